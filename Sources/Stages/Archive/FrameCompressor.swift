import CArchive
import Foundation
import Pipeline

/// Compresses one frame of a tar stream on its own (a zstd frame, a gzip member, an xz or bzip2 stream),
/// through libarchive's raw format. Each call makes and frees its own writer on the calling thread.
enum FrameCompressor {
    static func compress(_ input: [UInt8], format: ArchiveFormat, level: Int?) throws -> [UInt8] {
        guard format != .tar else { return input }
        guard let archive = archive_write_new() else { throw StageFailure("libarchive: cannot create a compressor") }
        final class Output { var bytes: [UInt8] = [] }
        let output = Output()
        var closed = false
        defer {
            // A compressor that failed half-way flushes into nothing while it is freed.
            if !closed { output.bytes = [] }
            withExtendedLifetime(output) { _ = archive_write_free(archive) }
        }
        func check(_ status: Int32, _ what: String) throws {
            if status != ARCHIVE_OK && status != ARCHIVE_WARN {
                let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
                throw StageFailure("libarchive: \(what): \(message)")
            }
        }
        try check(archive_write_set_format_raw(archive), "raw format")
        // No zero padding after the compressed stream: decompressors reject trailing garbage.
        try check(archive_write_set_bytes_in_last_block(archive, 1), "block padding")
        switch format {
        case .tar: break
        case .tarGzip:
            try check(archive_write_add_filter_gzip(archive), "gzip")
            try check(archive_write_set_filter_option(archive, "gzip", "timestamp", nil), "gzip without timestamp")
        case .tarBzip2: try check(archive_write_add_filter_bzip2(archive), "bzip2")
        case .tarXz: try check(archive_write_add_filter_xz(archive), "xz")
        case .tarZstd: try check(archive_write_add_filter_zstd(archive), "zstd")
        }
        if let level {
            try check(archive_write_set_filter_option(archive, nil, "compression-level", String(level)), "compression level")
        }
        output.bytes.reserveCapacity(input.count / 2 + 4096)
        let opaque = Unmanaged.passUnretained(output).toOpaque()
        try check(archive_write_open2(archive, opaque, nil, { _, client, buffer, length in
            let output = Unmanaged<Output>.fromOpaque(client!).takeUnretainedValue()
            if let buffer, length > 0 { output.bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length)) }
            return la_ssize_t(length)
        }, nil, nil), "open")
        guard let entry = archive_entry_new() else { throw StageFailure("libarchive: cannot create an entry") }
        defer { archive_entry_free(entry) }
        archive_entry_set_filetype(entry, PA_AE_IFREG)
        archive_entry_set_pathname(entry, "frame")
        archive_entry_set_size(entry, la_int64_t(input.count))
        try check(archive_write_header(archive, entry), "frame header")
        try input.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = archive_write_data(archive, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { try check(ARCHIVE_FATAL, "compressing") }
                offset += written
            }
        }
        try check(archive_write_close(archive), "end of frame")
        closed = true
        return output.bytes
    }
}
