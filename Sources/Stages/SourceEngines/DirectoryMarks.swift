import Foundation
import Pipeline

/// Files a directory holds that say how to back it up: a CACHEDIR.TAG (bford.info/cachedir: "what I hold can
/// be made again") and the names of `exclude_if_present` (`.nobackup`). Looked up relative to the directory's
/// descriptor, never through a link.
struct DirectoryMarks {
    static let cacheTag = "CACHEDIR.TAG"
    static let cacheSignature = Array("Signature: 8a477f597d28d172789f06886806bc55".utf8)

    let excludeCaches: Bool
    let excludeIfPresent: [String]

    var isEmpty: Bool { !excludeCaches && excludeIfPresent.isEmpty }

    enum Verdict { case keep, cache, exclude(because: String) }

    /// What to do with the directory `name` of the directory open as `parent`.
    func verdict(_ name: String, in parent: Int32) -> Verdict {
        guard !isEmpty else { return .keep }
        let directory = openat(parent, FileName.system(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard directory >= 0 else { return .keep }  // the walk reports what it cannot open
        defer { close(directory) }
        var info = stat()
        for mark in excludeIfPresent where fstatat(directory, FileName.system(mark), &info, AT_SYMLINK_NOFOLLOW) == 0 {
            return .exclude(because: mark)
        }
        if excludeCaches && Self.isCacheTag(in: directory) { return .cache }
        return .keep
    }

    /// A regular CACHEDIR.TAG that starts with the signature.
    private static func isCacheTag(in directory: Int32) -> Bool {
        let tag = openat(directory, cacheTag, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard tag >= 0 else { return false }
        defer { close(tag) }
        var info = stat()
        guard fstat(tag, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return false }
        var buffer = [UInt8](repeating: 0, count: cacheSignature.count)
        let count = buffer.withUnsafeMutableBytes { read(tag, $0.baseAddress, $0.count) }
        return count == cacheSignature.count && buffer == cacheSignature
    }
}
