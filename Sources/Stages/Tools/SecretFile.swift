import Foundation
import Pipeline

/// A file holding a secret for one child process (a PGPASSFILE, a MySQL option file, an ldapsearch
/// password file): mode 0600, owned by the user the child runs as, in a fresh directory of this process
/// (0700, or 0711 for a child run as another user: reachable by the name only it is given), removed when
/// `remove` runs (callers use `defer`) or, after a run that was killed, by the next run on this host.
/// The secret never reaches a command line.
final class SecretFile {
    let path: String
    private let directory: String

    init(name: String, content: String, owner: String? = nil) throws {
        _ = Self.sweep
        directory = try ScratchDirectory(ScratchName.secretPrefix + "\(getpid())", in: "/tmp").path
        path = directory + "/" + name
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            rmdir(directory)
            throw StageFailure("cannot create \(path): \(FileIO.lastError)")
        }
        defer { close(descriptor) }
        do {
            try Data(content.utf8).withUnsafeBytes { try FileIO.writeAll(descriptor, $0, what: path) }
            if let owner {
                guard let account = getpwnam(owner) else { throw StageFailure("no local user \(owner) (sudo_user)") }
                guard chmod(directory, 0o711) == 0,
                      fchown(descriptor, account.pointee.pw_uid, account.pointee.pw_gid) == 0 else {
                    throw StageFailure("cannot give \(path) to \(owner): \(FileIO.lastError)")
                }
            }
        } catch {
            remove()
            throw error
        }
    }

    /// Once per process: what killed runs left.
    private static let sweep: Void = ScratchName.removeLeftoverSecretDirectories()

    func remove() {
        unlink(path)
        rmdir(directory)
    }
}
