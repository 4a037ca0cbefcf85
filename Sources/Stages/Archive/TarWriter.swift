import CArchive
import Foundation
import Pipeline

/// Writes a tree from the store as a tar archive (compressed by format) through libarchive, into any
/// byte sink. Entries come in the tree's sorted order with only their mode, size and mtime, so the same
/// tree always gives the same bytes. Call it on a blocking thread: libarchive is synchronous.
public enum TarWriter {
    /// Receives the archive's bytes; libarchive calls it from the writing thread.
    public typealias Sink = (UnsafeRawBufferPointer) throws -> Void

    private final class SinkBox {
        let sink: Sink
        var error: Error?
        /// Set when the archive failed: the writer's last flush (in archive_write_free) reaches the sink no more.
        var abandoned = false
        init(_ sink: @escaping Sink) { self.sink = sink }
    }

    /// libarchive converts UTF-8 names through the C library's locale; in the default "C" locale a
    /// non-ASCII name does not convert and libarchive 3.6 crashes on it. A UTF-8 character type fixes both.
    private static let utf8Locale: Void = {
        if setlocale(LC_CTYPE, "C.UTF-8") == nil { _ = setlocale(LC_CTYPE, "en_US.UTF-8") }
    }()

    static func useUTF8Locale() { _ = utf8Locale }

    public static func write(_ tree: Tree, format: ArchiveFormat, level: Int?, store: ContentStore,
                             cancellation: CancellationFlag, sink: @escaping Sink) throws {
        useUTF8Locale()
        // The box outlives the writer: libarchive calls the sink until archive_write_free returns, so the
        // writer is created and freed inside its lifetime. After a failure the sink refuses what free flushes
        // (archive_write_fail would skip that flush but leaks the compressor's state).
        let box = SinkBox(sink)
        try withExtendedLifetime(box) {
            guard let archive = archive_write_new() else { throw StageFailure("libarchive: cannot create an archive writer") }
            var finished = false
            defer {
                box.abandoned = !finished
                archive_write_free(archive)
            }
            try write(tree, format: format, level: level, store: store, cancellation: cancellation, archive: archive, box: box)
            finished = true
        }
    }

    private static func write(_ tree: Tree, format: ArchiveFormat, level: Int?, store: ContentStore, cancellation: CancellationFlag,
                              archive: OpaquePointer, box: SinkBox) throws {
        func check(_ status: Int32, _ what: String) throws {
            if status != ARCHIVE_OK && status != ARCHIVE_WARN {
                let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
                throw StageFailure("libarchive: \(what): \(message)")
            }
        }
        try check(archive_write_set_format_pax_restricted(archive), "tar format")
        // No zero padding after the compressed stream: decompressors reject trailing garbage.
        try check(archive_write_set_bytes_in_last_block(archive, 1), "block padding")
        switch format {
        case .tar: break
        case .tarGzip:
            try check(archive_write_add_filter_gzip(archive), "gzip")
            try check(archive_write_set_filter_option(archive, "gzip", "timestamp", nil), "gzip without timestamp")
        case .tarBzip2: try check(archive_write_add_filter_bzip2(archive), "bzip2")
        case .tarXz: try check(archive_write_add_filter_xz(archive), "xz")
        case .tarZstd:
            try check(archive_write_add_filter_zstd(archive), "zstd")
            // Two compression threads: faster, and the output stays the same for the same input.
            _ = archive_write_set_filter_option(archive, "zstd", "threads", "2")
        }
        if let level, format != .tar {
            try check(archive_write_set_filter_option(archive, nil, "compression-level", String(level)), "compression level")
        }
        do {
            let opaque = Unmanaged.passUnretained(box).toOpaque()
            let status = archive_write_open2(archive, opaque, nil, { _, client, buffer, length in
                let box = Unmanaged<SinkBox>.fromOpaque(client!).takeUnretainedValue()
                // After a failure nothing more reaches the sink (errors never cross into C).
                if box.error != nil || box.abandoned { return -1 }
                do {
                    try box.sink(UnsafeRawBufferPointer(start: buffer, count: length))
                    return la_ssize_t(length)
                } catch {
                    box.error = error
                    return -1
                }
            }, nil, nil)
            try check(status, "open")
            guard let entry = archive_entry_new() else { throw StageFailure("libarchive: cannot create an entry") }
            defer { archive_entry_free(entry) }
            var written = Set<String>()
            for item in tree.entries where !item.path.isEmpty {
                try cancellation.check()
                archive_entry_clear(entry)
                if let owner = item.owner {
                    archive_entry_set_uid(entry, la_int64_t(owner.uid))
                    archive_entry_set_gid(entry, la_int64_t(owner.gid))
                    if let user = owner.user { archive_entry_set_uname_utf8(entry, user) }
                    if let group = owner.group { archive_entry_set_gname_utf8(entry, group) }
                }
                // A hard link whose target is already in the archive (tar needs that order); else a plain copy.
                let link = item.kind == .file ? item.hardlink.flatMap { written.contains($0) ? $0 : nil } : nil
                archive_entry_set_pathname_utf8(entry, item.kind == .directory ? item.path + "/" : item.path)
                archive_entry_set_perm(entry, mode_t(item.mode & 0o7777))
                archive_entry_set_mtime(entry, time_t(item.mtime / 1_000_000_000), Int(item.mtime % 1_000_000_000))
                switch item.kind {
                case .file:
                    archive_entry_set_filetype(entry, PA_AE_IFREG)
                    archive_entry_set_size(entry, la_int64_t(link == nil ? item.size : 0))
                    if let link { archive_entry_set_hardlink_utf8(entry, link) }
                    written.insert(item.path)
                case .directory:
                    archive_entry_set_filetype(entry, PA_AE_IFDIR)
                    archive_entry_set_size(entry, 0)
                case .symlink:
                    archive_entry_set_filetype(entry, PA_AE_IFLNK)
                    archive_entry_set_symlink_utf8(entry, item.target ?? "")
                    archive_entry_set_size(entry, 0)
                }
                if archive_write_header(archive, entry) != ARCHIVE_OK {
                    if let error = box.error { throw error }
                    try check(ARCHIVE_FATAL, "header of \(item.path)")
                }
                if item.kind == .file, link == nil, item.digest != nil {
                    try store.read(item) { chunk in
                        let written = archive_write_data(archive, chunk.baseAddress, chunk.count)
                        if written < 0 {
                            if let error = box.error { throw error }
                            try check(ARCHIVE_FATAL, "data of \(item.path)")
                        }
                    }
                }
            }
            if archive_write_close(archive) != ARCHIVE_OK {
                if let error = box.error { throw error }
                try check(ARCHIVE_FATAL, "close")
            }
        }
    }
}
