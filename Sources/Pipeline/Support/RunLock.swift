import Foundation

/// One `apply` at a time per state directory: an exclusive POSIX record lock on `<state>/lock`. The kernel
/// releases it when the holder dies, so a crash never leaves a stale lock, and tells who holds it
/// (`F_GETLK`): the file itself is never written, so a run that changes nothing writes nothing.
/// One per process at a time: closing any descriptor of the file releases a process's record locks.
public final class RunLock: @unchecked Sendable {
    private let descriptor: Int32
    public let path: String

    public struct Locked: Error, CustomStringConvertible {
        public let holder: String
        /// What to do about it, for the command that asked.
        public let hint: String
        public var description: String {
            "another polyarchiv holds the state directory lock (\(holder)); \(hint)"
        }
    }

    /// Takes the lock, waiting up to `timeout` seconds (0: fail at once).
    public init(directory: URL, timeout: TimeInterval = 0, hint: String = "wait for it or use --lock-timeout") throws {
        path = directory.appendingPathComponent("lock").path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StageFailure("cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        let deadline = Date().addingTimeInterval(timeout)
        var request = Self.wholeFile(F_WRLCK)
        while fcntl(descriptor, F_SETLK, &request) != 0 {
            guard errno == EACCES || errno == EAGAIN || errno == EINTR, Date() < deadline else {
                let holder = RunLock.describeHolder(descriptor)
                close(descriptor)
                throw Locked(holder: holder, hint: hint)
            }
            usleep(100_000)
        }
    }

    private static func wholeFile(_ type: Int32) -> flock {
        var lock = flock()
        lock.l_type = Int16(type)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 0
        lock.l_len = 0
        return lock
    }

    private static func describeHolder(_ descriptor: Int32) -> String {
        var probe = wholeFile(F_WRLCK)
        guard fcntl(descriptor, F_GETLK, &probe) == 0, probe.l_type != Int16(F_UNLCK), probe.l_pid > 0 else { return "holder unknown" }
        let command = (try? String(contentsOfFile: "/proc/\(probe.l_pid)/cmdline", encoding: .utf8))?
            .split(separator: "\0").prefix(2).joined(separator: " ")
        return "locked by PID \(probe.l_pid)" + (command.map { ", \($0)" } ?? "")
    }

    deinit {
        close(descriptor)
    }
}
