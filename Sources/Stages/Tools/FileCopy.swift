import Foundation
import Pipeline

/// A file's bytes copied into another, in the kernel (`copy_file_range`: no trip through user space, and
/// shared extents where the file system has them), or by reads and writes where it cannot.
enum FileCopy {
    /// Linux's `lseek` whences (Glibc exports them only under _GNU_SOURCE).
    static let seekData: Int32 = 3, seekHole: Int32 = 4

    /// From an open file, read from its start. A source with holes (a sparse file) gets the same holes:
    /// only its data extents are copied.
    static func copy(_ input: Int32, from source: String, to output: Int32, size: Int64, what: String) throws {
        let firstHole = lseek(input, 0, Self.seekHole)
        guard firstHole >= 0, Int64(firstHole) < size else { return try copyRange(input, from: source, to: output, 0..<size, what: what) }
        var offset: Int64 = 0
        while offset < size {
            let data = lseek(input, off_t(offset), Self.seekData)
            if data < 0 { break }  // ENXIO: only a hole remains
            let hole = min(size, Int64(max(lseek(input, data, Self.seekHole), data)))
            guard Int64(data) < hole else { break }
            try copyRange(input, from: source, to: output, Int64(data)..<hole, what: what)
            offset = hole
        }
        guard ftruncate(output, off_t(size)) == 0 else { throw StageFailure("cannot write \(what): \(FileIO.lastError)") }
    }

    /// The bytes of `range`, at the same offsets.
    private static func copyRange(_ input: Int32, from source: String, to output: Int32, _ range: Range<Int64>, what: String) throws {
        var inputOffset = range.lowerBound, outputOffset = range.lowerBound
        while inputOffset < range.upperBound {
            let count = linuxCopyFileRange(input, &inputOffset, output, &outputOffset, Int(min(range.upperBound - inputOffset, 1 << 30)), 0)
            if count > 0 { continue }
            if count == 0 { break }
            if errno == EINTR { continue }
            if errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP {
                lseek(input, off_t(inputOffset), SEEK_SET)
                lseek(output, off_t(outputOffset), SEEK_SET)
                return try copyByReading(input, output, remaining: range.upperBound - inputOffset, what: what)
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

/// Writes a file from a stream of chunks, leaving a hole where a whole aligned block is zeros (as `cp
/// --sparse=always` and `tar -S` do): a sparse file restored or collected from a stream stays sparse.
struct SparseWriter {
    static let block = 4096
    let descriptor: Int32
    let what: String
    private(set) var offset: Int64 = 0

    init(_ descriptor: Int32, what: String) {
        self.descriptor = descriptor
        self.what = what
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        var start = 0
        var run: Int?  // where the bytes not yet written begin
        while start < bytes.count {
            // Up to the next block boundary of the file, so holes are block-aligned.
            let length = min(bytes.count - start, Self.block - Int(offset % Int64(Self.block)))
            let zero = length == Self.block && Self.zeros.withUnsafeBytes { memcmp(bytes.baseAddress! + start, $0.baseAddress!, length) == 0 }
            if zero {
                if let begin = run { try put(UnsafeRawBufferPointer(rebasing: bytes[begin..<start]), at: offset - Int64(start - begin)) }
                run = nil
            } else if run == nil {
                run = start
            }
            offset += Int64(length)
            start += length
        }
        if let begin = run { try put(UnsafeRawBufferPointer(rebasing: bytes[begin..<start]), at: offset - Int64(start - begin)) }
    }

    private static let zeros = [UInt8](repeating: 0, count: block)

    private func put(_ bytes: UnsafeRawBufferPointer, at position: Int64) throws {
        var done = 0
        while done < bytes.count {
            let count = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(position) + off_t(done))
            if count < 0 {
                if errno == EINTR { continue }
                throw StageFailure("cannot write \(what): \(errno == ENOSPC ? "the disk is full" : FileIO.lastError)")
            }
            done += count
        }
    }

    /// The file takes its full size (a trailing hole included).
    func finish() throws {
        guard ftruncate(descriptor, off_t(offset)) == 0 else { throw StageFailure("cannot write \(what): \(FileIO.lastError)") }
    }
}
