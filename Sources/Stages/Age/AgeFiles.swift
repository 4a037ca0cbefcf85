import Foundation
import Pipeline

/// Decrypting files on disk when restoring: what the `encrypt` filter made, reversed.
enum AgeFiles {
    /// Decrypts `source` into `destination`, written beside it and renamed when whole and authenticated:
    /// a wrong key or a damaged file leaves nothing under the final name.
    static func decrypt(_ source: String, to destination: String, identities: [AgeIdentity], mode: mode_t = 0o600) throws {
        let input = open(FileName.system(source), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard input >= 0 else { throw StageFailure("cannot read \(source): \(FileIO.lastError)") }
        defer { close(input) }
        do {
            try AtomicFile.write(destination, permissions: mode) { sink in
                try AgeDecryptor(identities: identities).decrypt(read: { buffer in
                    let count = Glibc.read(input, buffer.baseAddress, buffer.count)
                    guard count >= 0 else { throw StageFailure("cannot read \(source): \(FileIO.lastError)") }
                    return count
                }, sink: sink)
            }
        } catch let wrong as AgeDecryptor.WrongKey {
            throw StageFailure("cannot decrypt \((source as NSString).lastPathComponent): \(wrong); give the identity of its recipients "
                               + "(restore --identity FILE, or the encrypt filter's identity_file) or its passphrase")
        } catch let malformed as AgeHeader.Malformed {
            throw StageFailure("cannot decrypt \((source as NSString).lastPathComponent): \(malformed)")
        }
    }
}
