import ArgumentParser
import Foundation
import Pipeline

/// A file a command creates for the user (an identity, a configuration): mode 0600, never over a file or
/// through a link that is there, on disk before the command says it is.
enum NewPrivateFile {
    static func write(_ text: String, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            Terminal.error("polyarchiv: cannot create \(path): \(FileIO.lastError)"
                           + (errno == EEXIST ? " (it exists; it was not overwritten: give another path)" : ""))
            throw ExitCode(ExitStatus.configuration)
        }
        defer { close(descriptor) }
        try Data(text.utf8).withUnsafeBytes { try FileIO.writeAll(descriptor, $0, what: path) }
        guard fsync(descriptor) == 0 else {
            Terminal.error("polyarchiv: cannot write \(path): \(FileIO.lastError)")
            throw ExitCode(ExitStatus.configuration)
        }
    }
}
