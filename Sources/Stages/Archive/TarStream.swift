import CArchive
import Foundation
import Pipeline

/// libarchive's pax writer without compression or blocking: the bytes of each entry land in `buffer` as it
/// is written, for `TarWriter` to cut into frames. Confined to the thread that made it (libarchive is not
/// thread-safe).
final class TarStream {
    private final class Box {
        var buffer: [UInt8] = []
        /// Bytes written while set are dropped (the header of a segment that is copied from earlier).
        var discarding = false
        /// Set when the stream is done with: what libarchive flushes while being freed goes nowhere.
        var closed = false
    }

    private let box = Box()
    private let archive: OpaquePointer
    private let entry: OpaquePointer

    init() throws {
        TarWriter.useUTF8Locale()
        guard let archive = archive_write_new() else { throw StageFailure("libarchive: cannot create an archive writer") }
        guard let entry = archive_entry_new() else {
            archive_write_free(archive)
            throw StageFailure("libarchive: cannot create an entry")
        }
        self.archive = archive
        self.entry = entry
        do {
            try check(archive_write_set_format_pax(archive), "tar format")
            // Extended attributes as SCHILY.xattr records: what GNU tar --xattrs reads too.
            try check(archive_write_set_format_option(archive, "pax", "xattrheader", "SCHILY"), "xattr records")
            try check(archive_write_set_bytes_per_block(archive, 0), "unblocked output")
            let opaque = Unmanaged.passUnretained(box).toOpaque()
            try check(archive_write_open2(archive, opaque, nil, { _, client, buffer, length in
                let box = Unmanaged<Box>.fromOpaque(client!).takeUnretainedValue()
                if box.closed { return -1 }
                if !box.discarding, let buffer, length > 0 {
                    box.buffer.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
                }
                return la_ssize_t(length)
            }, nil, nil), "open")
        } catch {
            box.closed = true
            archive_write_free(archive)
            archive_entry_free(entry)
            throw error
        }
    }

    deinit {
        box.closed = true
        withExtendedLifetime(box) {
            archive_write_free(archive)
            archive_entry_free(entry)
        }
    }

    var discarding: Bool {
        get { box.discarding }
        set { box.discarding = newValue }
    }

    var count: Int { box.buffer.count }

    /// The bytes written since the last take.
    func take() -> [UInt8] {
        let bytes = box.buffer
        box.buffer = []
        box.buffer.reserveCapacity(bytes.count)
        return bytes
    }

    /// `link`: the earlier entry this file is written as a hard link to.
    func header(_ item: Tree.Entry, link: String?) throws {
        archive_entry_clear(entry)
        if let owner = item.owner {
            archive_entry_set_uid(entry, la_int64_t(owner.uid))
            archive_entry_set_gid(entry, la_int64_t(owner.gid))
            if let user = owner.user { archive_entry_set_uname_utf8(entry, user) }
            if let group = owner.group { archive_entry_set_gname_utf8(entry, group) }
        }
        // A name that is not UTF-8 goes as its bytes (libarchive marks it `hdrcharset=BINARY`, as GNU tar does).
        Self.set(item.kind == .directory ? item.path + "/" : item.path, entry, archive_entry_set_pathname_utf8, archive_entry_copy_pathname)
        archive_entry_set_perm(entry, mode_t(item.mode & 0o7777))
        // As pax SCHILY.xattr records (ACLs and capabilities are attributes too), as GNU tar --xattrs writes them.
        for attribute in item.xattrs {
            attribute.value.withUnsafeBytes { archive_entry_xattr_add_entry(entry, attribute.name, $0.baseAddress, $0.count) }
        }
        archive_entry_set_mtime(entry, time_t(item.mtime / 1_000_000_000), Int(item.mtime % 1_000_000_000))
        switch item.kind {
        case .file:
            archive_entry_set_filetype(entry, PA_AE_IFREG)
            archive_entry_set_size(entry, la_int64_t(link == nil ? item.size : 0))
            if let link { Self.set(link, entry, archive_entry_set_hardlink_utf8, archive_entry_copy_hardlink) }
        case .directory:
            archive_entry_set_filetype(entry, PA_AE_IFDIR)
            archive_entry_set_size(entry, 0)
        case .symlink:
            archive_entry_set_filetype(entry, PA_AE_IFLNK)
            Self.set(item.target ?? "", entry, archive_entry_set_symlink_utf8, archive_entry_copy_symlink)
            archive_entry_set_size(entry, 0)
        }
        try check(archive_write_header(archive, entry), "header of \(item.path)")
    }

    /// A path as UTF-8, or (`FileName` bytes) as the bytes it stands for.
    private static func set(_ path: String, _ entry: OpaquePointer, _ utf8: (OpaquePointer?, UnsafePointer<CChar>?) -> Void,
                            _ bytes: (OpaquePointer?, UnsafePointer<CChar>?) -> Void) {
        if FileName.hasRawBytes(path) { bytes(entry, FileName.system(path)) } else { utf8(entry, path) }
    }

    func data(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        let written = archive_write_data(archive, bytes.baseAddress, bytes.count)
        if written < 0 { try check(ARCHIVE_FATAL, "data") }
    }

    /// Pads the entry to tar's 512-byte blocks.
    func finishEntry() throws {
        try check(archive_write_finish_entry(archive), "end of entry")
    }

    /// The end-of-archive blocks.
    func close() throws {
        try check(archive_write_close(archive), "close")
        box.closed = true
    }

    private func check(_ status: Int32, _ what: String) throws {
        if status != ARCHIVE_OK && status != ARCHIVE_WARN {
            let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
            throw StageFailure("libarchive: \(what): \(message)")
        }
    }
}
