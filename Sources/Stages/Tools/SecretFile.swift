import Foundation
import Pipeline

/// A file holding a secret for one child process (a PGPASSFILE, a MySQL option file, an ldapsearch
/// password file): in a fresh 0700 directory, mode 0600, owned by the user the child runs as, and
/// removed when `remove` runs (callers use `defer`). The secret never reaches a command line.
final class SecretFile {
    let path: String
    private let directory: String

    init(name: String, content: String, owner: String? = nil) throws {
        directory = try ScratchDirectory("polyarchiv-secret", in: "/tmp").path
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
                guard chown(directory, account.pointee.pw_uid, account.pointee.pw_gid) == 0,
                      fchown(descriptor, account.pointee.pw_uid, account.pointee.pw_gid) == 0 else {
                    throw StageFailure("cannot give \(path) to \(owner): \(FileIO.lastError)")
                }
            }
        } catch {
            remove()
            throw error
        }
    }

    func remove() {
        unlink(path)
        rmdir(directory)
    }
}
