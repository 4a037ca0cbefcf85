import Foundation
import Pipeline

/// Writes a file beside its final name, fsyncs it and renames it into place: the final name holds the
/// old content or the whole new one, never a part.
public enum AtomicFile {
    static let temporaryMarker = ".polyarchiv-tmp-"

    /// `permissions`, `owner` and `group` are set through the descriptor before the rename: the final name is never
    /// chmodded or chowned by name (in a directory another user can write, it could be a link by then).
    public static func write(_ final: String, permissions: mode_t = 0o600, owner: uid_t? = nil, group: gid_t? = nil,
                             _ produce: (_ sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let directory = (final as NSString).deletingLastPathComponent
        removeLeftovers(of: final)
        // A new name nobody could plant beforehand (O_EXCL), never a link followed (O_NOFOLLOW).
        let temporary = temporaryName(for: final)
        let descriptor = open(FileName.system(temporary), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StageFailure("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        do {
            try produce { chunk in try FileIO.writeAll(descriptor, chunk, what: final) }
            guard fchmod(descriptor, permissions) == 0 else { throw StageFailure("cannot set the mode of \(temporary): \(FileIO.lastError)") }
            if owner != nil || group != nil, fchown(descriptor, owner ?? uid_t.max, group ?? gid_t.max) != 0 {
                throw StageFailure("cannot give \(final) to \(owner.map(String.init) ?? "-"):\(group.map(String.init) ?? "-"): \(FileIO.lastError)")
            }
            guard fsync(descriptor) == 0 else { throw StageFailure("cannot flush \(temporary): \(String(cString: strerror(errno)))") }
        } catch {
            close(descriptor)
            unlink(FileName.system(temporary))
            throw error
        }
        close(descriptor)
        guard rename(FileName.system(temporary), FileName.system(final)) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(FileName.system(temporary))
            throw StageFailure("cannot rename \(temporary) to \(final): \(reason)")
        }
        syncDirectory(directory)
    }

    /// A name beside `final` that nobody can guess beforehand (created with O_EXCL, or by link(2), which never
    /// follows or replaces what is there).
    static func temporaryName(for final: String) -> String {
        final + temporaryMarker + String(getpid()) + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
    }

    /// The temporary files an interrupted write of this same file left beside it.
    static func removeLeftovers(of final: String) {
        let directory = (final as NSString).deletingLastPathComponent
        let name = (final as NSString).lastPathComponent
        for leftover in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where leftover.hasPrefix(name + temporaryMarker) {
            unlink(directory + "/" + leftover)
        }
    }

    /// A rename in `directory` on disk.
    static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }
}
