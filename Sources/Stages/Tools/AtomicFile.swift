import Foundation
import Pipeline

/// Writes a file beside its final name, fsyncs it and renames it into place: the final name holds the
/// old content or the whole new one, never a part.
public enum AtomicFile {
    static let temporaryMarker = ".polyarchiv-tmp-"

    public static func write(_ final: String, _ produce: (_ sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let directory = (final as NSString).deletingLastPathComponent
        removeLeftovers(of: final)
        let temporary = final + temporaryMarker + String(getpid())
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StageFailure("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        do {
            try produce { chunk in try FileIO.writeAll(descriptor, chunk, what: final) }
            guard fsync(descriptor) == 0 else { throw StageFailure("cannot flush \(temporary): \(String(cString: strerror(errno)))") }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, final) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw StageFailure("cannot rename \(temporary) to \(final): \(reason)")
        }
        syncDirectory(directory)
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
