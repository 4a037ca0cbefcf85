import Foundation
import Pipeline

/// A file's bytes copied into another, in the kernel (`copy_file_range`: no trip through user space, and
/// shared extents where the file system has them), or by reads and writes where it cannot.
enum FileCopy {
    static func copy(from source: String, to output: Int32, size: Int64, what: String) throws {
        let input = open(FileName.system(source), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard input >= 0 else { throw StageFailure("cannot read \(source): \(FileIO.lastError)") }
        defer { close(input) }
        try copy(input, from: source, to: output, size: size, what: what)
    }

    /// From an open file, read from its start.
    static func copy(_ input: Int32, from source: String, to output: Int32, size: Int64, what: String) throws {
        var copied: Int64 = 0
        while copied < size {
            let count = linuxCopyFileRange(input, nil, output, nil, Int(min(size - copied, 1 << 30)), 0)
            if count > 0 {
                copied += Int64(count)
                continue
            }
            if count == 0 { break }
            if errno == EINTR { continue }
            if errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP {
                return try copyByReading(input, output, remaining: size - copied, what: what)
            }
            throw StageFailure("cannot copy \(source) to \(what): \(errno == ENOSPC ? "the disk is full" : FileIO.lastError)")
        }
    }

    /// No more than `remaining` bytes: what the tree recorded (a file that grew since keeps the bytes it had).
    private static func copyByReading(_ input: Int32, _ output: Int32, remaining: Int64, what: String) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var remaining = remaining
        while remaining > 0 {
            let count = Glibc.read(input, buffer.baseAddress, Int(min(Int64(buffer.count), remaining)))
            if count < 0 {
                if errno == EINTR { continue }
                throw StageFailure("cannot read for \(what): \(FileIO.lastError)")
            }
            if count == 0 { return }
            remaining -= Int64(count)
            try FileIO.writeAll(output, UnsafeRawBufferPointer(rebasing: buffer[0..<count]), what: what)
        }
    }
}

/// copy_file_range(2), which Glibc's Swift overlay does not import (it is a GNU extension).
@_silgen_name("copy_file_range")
private func linuxCopyFileRange(_ input: Int32, _ inputOffset: UnsafeMutablePointer<Int64>?, _ output: Int32,
                                _ outputOffset: UnsafeMutablePointer<Int64>?, _ length: Int, _ flags: UInt32) -> Int
