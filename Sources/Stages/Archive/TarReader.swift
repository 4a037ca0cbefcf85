import CArchive
import Foundation
import Pipeline

/// Extracts a tar archive (any compression libarchive knows) into a directory, refusing entries that
/// would land outside it (absolute paths, `..`, writes through symlinks). Blocking: call it on a
/// blocking thread.
public enum TarReader {
    /// Device nodes, FIFOs and sockets are not created: the rest is extracted, and one line for each refused
    /// entry is returned. Setuid/setgid bits are dropped unless `keepSpecialBits`.
    /// `warn` hears of each extended attribute (ACL, capability) the target could not take.
    public static func extract(_ archivePath: String, into directory: String, keepSpecialBits: Bool = false,
                               cancellation: CancellationFlag, warn: (String) -> Void = { _ in }) throws -> [String] {
        TarWriter.useUTF8Locale()
        guard let reader = archive_read_new(), let writer = archive_write_disk_new() else {
            throw StageFailure("libarchive: cannot create a reader")
        }
        defer {
            archive_read_free(reader)
            archive_write_free(writer)
        }
        archive_read_support_filter_all(reader)
        archive_read_support_format_all(reader)
        // Names are checked here (no absolute path, no `..`), then prefixed with the target directory, so
        // libarchive's own absolute-path guard cannot be used; its `..` and symlink guards still are.
        // SPARSE: runs of zeros become holes again (a sparse file comes back sparse).
        var flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT
            | ARCHIVE_EXTRACT_SPARSE | ARCHIVE_EXTRACT_XATTR
        // Owners come back when root restores (by name when the name exists here, else by number).
        if geteuid() == 0 { flags |= ARCHIVE_EXTRACT_OWNER }
        archive_write_disk_set_options(writer, flags)
        if geteuid() == 0 { archive_write_disk_set_standard_lookup(writer) }
        func failure(_ archive: OpaquePointer, _ what: String) -> StageFailure {
            StageFailure("cannot \(what) \(archivePath): " + (archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"))
        }
        guard archive_read_open_filename(reader, archivePath, 1 << 16) == ARCHIVE_OK else { throw failure(reader, "open") }
        var refused: [String] = []
        var refusedNames = Set<String>()
        var entry: OpaquePointer?
        while true {
            try cancellation.check()
            let status = archive_read_next_header(reader, &entry)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else { throw failure(reader, "read") }
            let name = archive_entry_pathname(entry).map { FileName.decode(cString: $0) } ?? ""
            try checkInside(name, archivePath)
            if archive_entry_hardlink(entry) == nil, let kind = RestoredTreeCheck.forbiddenKind(mode_t(archive_entry_filetype(entry))) {
                refused.append(RestoredTreeCheck.refused(name, kind))
                refusedNames.insert(name)
                continue
            }
            if let link = archive_entry_hardlink(entry), refusedNames.contains(String(cString: link)) {
                refused.append(RestoredTreeCheck.refused(name, "hard link to a refused entry"))
                continue
            }
            archive_entry_set_perm(entry, RestoredTreeCheck.permissions(mode_t(archive_entry_perm(entry)),
                                                                        isDirectory: mode_t(archive_entry_filetype(entry)) == Glibc.S_IFDIR,
                                                                        keepSpecialBits: keepSpecialBits))
            archive_entry_copy_pathname(entry, FileName.system(directory + "/" + name))
            if let link = archive_entry_hardlink(entry) {
                let target = FileName.decode(cString: link)
                try checkInside(target, archivePath)
                archive_entry_copy_hardlink(entry, FileName.system(directory + "/" + target))
            }
            let header = archive_write_header(writer, entry)
            guard header == ARCHIVE_OK || header == ARCHIVE_WARN else { throw failure(writer, "extract \(name) from") }
            if header == ARCHIVE_WARN { warn(warning(writer, name)) }
            var buffer: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            while true {
                let result = archive_read_data_block(reader, &buffer, &size, &offset)
                if result == ARCHIVE_EOF { break }
                guard result == ARCHIVE_OK else { throw failure(reader, "read \(name) from") }
                guard archive_write_data_block(writer, buffer, size, offset) == ARCHIVE_OK else {
                    throw failure(writer, "write \(name) from")
                }
            }
            let finished = archive_write_finish_entry(writer)
            guard finished == ARCHIVE_OK || finished == ARCHIVE_WARN else { throw failure(writer, "finish \(name) from") }
            // Extended attributes are set as the entry finishes: one the file system or the process cannot set.
            if finished == ARCHIVE_WARN { warn(warning(writer, name)) }
            // POSIX ACLs travel as attributes, which libarchive does not set itself.
            for failure in setACLs(of: entry, at: directory + "/" + name) { warn("\(TerminalText.escaped(name)): \(failure)") }
        }
        return refused
    }

    /// The entry's `system.posix_acl_*` attributes, set on the extracted file.
    private static func setACLs(of entry: OpaquePointer, at path: String) -> [String] {
        var acls: [Tree.ExtendedAttribute] = []
        archive_entry_xattr_reset(entry)
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK {
            guard let name, String(cString: name).hasPrefix("system.posix_acl_") else { continue }
            acls.append(Tree.ExtendedAttribute(name: String(cString: name),
                                               value: value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []))
        }
        guard !acls.isEmpty else { return [] }
        return ExtendedAttributes.set(acls + ExtendedAttributes.read(path: path).filter { !$0.name.hasPrefix("system.posix_acl_") }, path: path)
    }

    private static func warning(_ writer: OpaquePointer, _ name: String) -> String {
        "\(TerminalText.escaped(name)): " + (archive_error_string(writer).map { String(cString: $0) } ?? "not everything could be set")
    }

    private static func checkInside(_ name: String, _ archive: String) throws {
        if name.isEmpty || name.hasPrefix("/") || name.split(separator: "/").contains("..") {
            throw StageFailure("\(archive) holds the entry `\(name)`, which would land outside the target; nothing more was extracted")
        }
    }
}
