import Foundation
import Pipeline

/// Decrypting files on disk when restoring: what the `encrypt` filter made, reversed.
public enum AgeFiles {
    /// The identities that open what an `encrypt` filter wrote: `identityFile` (from `restore --identity`)
    /// first, then the filter's `identity_file`, or its passphrase.
    public static func identities(_ parameters: Parameters, identityFile: String?) throws -> [AgeIdentity] {
        var identities: [AgeIdentity] = []
        if let identityFile { identities += try AgeIdentity.parseFile(identityFile) }
        if let file = parameters.string("identity_file"), identityFile == nil { identities += try AgeIdentity.parseFile(file) }
        if case .secret(let secret)? = parameters["passphrase"] { identities.append(.passphrase(try secret.reveal())) }
        guard !identities.isEmpty else {
            throw StageFailure("the data is encrypted to age recipients: give the identity with `restore --identity FILE` "
                               + "or `identity_file` in the encrypt filter")
        }
        return identities
    }

    /// Decrypts `source` into `destination`, written beside it and renamed when whole and authenticated:
    /// a wrong key or a damaged file leaves nothing under the final name.
    public static func decrypt(_ source: String, to destination: String, identities: [AgeIdentity], mode: mode_t = 0o600) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw StageFailure("cannot read \(source): \(FileIO.lastError)") }
        defer { close(input) }
        do {
            try AtomicFile.write(destination) { sink in
                try AgeDecryptor(identities: identities).decrypt(read: { buffer in
                    let count = Glibc.read(input, buffer.baseAddress, buffer.count)
                    guard count >= 0 else { throw StageFailure("cannot read \(source): \(FileIO.lastError)") }
                    return count
                }, sink: sink)
            }
        } catch let wrong as AgeDecryptor.WrongKey {
            throw StageFailure("cannot decrypt \(source): \(wrong)")
        } catch let malformed as AgeHeader.Malformed {
            throw StageFailure("cannot decrypt \(source): \(malformed)")
        }
        chmod(destination, mode)
    }
}
