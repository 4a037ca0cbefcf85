import Foundation

/// One `apply` at a time per state directory: an exclusive `flock` on `<state>/lock`. The kernel
/// releases it when the holder dies, so a crash never leaves a stale lock. The file says who holds it.
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
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, Date() < deadline else {
                let holder = RunLock.describeHolder(descriptor)
                close(descriptor)
                throw Locked(holder: holder, hint: hint)
            }
            usleep(100_000)
        }
        let formatter = ISO8601DateFormatter()
        let text = "locked by PID \(getpid()) since \(formatter.string(from: Date()))\n"
        ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    private static func describeHolder(_ descriptor: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        let text = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return text.isEmpty ? "holder unknown" : text
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
