import Foundation

/// Small POSIX helpers shared by everything that writes files.
public enum FileIO {
    /// Writes all of `bytes` to `descriptor`, retrying interrupted and short writes. The error names
    /// `what` and says plainly when the disk is full.
    public static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, what: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                let reason = errno == ENOSPC ? "the disk is full" : String(cString: strerror(errno))
                throw StageFailure("cannot write \(what): \(reason)")
            }
            offset += written
        }
    }

    /// The text of the current `errno`.
    public static var lastError: String { String(cString: strerror(errno)) }
}
