import Foundation

/// What tells that a file is the one that was read: device, inode, size, and the modification and change
/// times. Any write to the file changes its ctime.
public struct FileIdentity: Hashable, Sendable {
    public let device: UInt64
    public let inode: UInt64
    public let size: Int64
    public let mtime: Int64
    public let ctime: Int64
    /// The file type bits (`S_IFREG`, …).
    let type: mode_t

    public init(_ info: stat) {
        type = info.st_mode & S_IFMT
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        mtime = info.st_mtim.nanoseconds
        ctime = info.st_ctim.nanoseconds
    }

    /// The identity of the file at `path` (not following a final link), nil when there is none.
    public init?(path: String) {
        var info = stat()
        guard lstat(FileName.system(path), &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        self.init(info)
    }

    public var isRegularFile: Bool { type == S_IFREG }

    public init?(descriptor: Int32) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return nil }
        self.init(info)
    }
}

/// Files whose content this process checked against a digest (it hashed them while reading or writing
/// them), with their identity then: one that still has that identity need not be hashed again in the same
/// run. Thread-safe; it lives as long as the store value of one run.
/// Kept by device and inode, not by path: the file is what was checked, whatever name reaches it, and a
/// run over 400,000 files need not keep 400,000 paths.
final class VerifiedFiles: @unchecked Sendable {
    private struct Key: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    private let lock = NSLock()
    private var files: [Key: (digest: Digest, identity: FileIdentity)] = [:]
    private var damaged = Set<String>()

    func note(_ path: String, _ digest: Digest, _ identity: FileIdentity) {
        lock.lock()
        files[Key(device: identity.device, inode: identity.inode)] = (digest, identity)
        if !damaged.isEmpty { damaged.remove(path) }
        lock.unlock()
    }

    func isVerified(_ path: String, _ digest: Digest, _ identity: FileIdentity) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let known = files[Key(device: identity.device, inode: identity.inode)] else { return false }
        return known.digest == digest && known.identity == identity
    }

    /// `identity`: the damaged file's, when it was opened (it is no longer trusted under any name).
    func noteDamaged(_ path: String, _ identity: FileIdentity? = nil) {
        lock.lock()
        if let identity { files[Key(device: identity.device, inode: identity.inode)] = nil }
        damaged.insert(path)
        lock.unlock()
    }

    func isDamaged(_ path: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return damaged.contains(path)
    }
}

/// Durability in batches: files are written without an fsync each, and before the journal records that they
/// exist, one `syncfs` per file system flushes them all (and the directory entries of their renames).
public enum FileSync {
    /// Flushes the file systems that hold `paths` (each once).
    public static func flush(_ paths: [String]) throws {
        var done = Set<UInt64>()
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0, done.insert(UInt64(info.st_dev)).inserted else { continue }
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            guard linuxSyncfs(descriptor) == 0 else {
                throw StageFailure("cannot flush \(path) to disk: \(FileIO.lastError)")
            }
        }
    }
}

/// syncfs(2), which Glibc's Swift overlay does not import (it is a GNU extension).
@_silgen_name("syncfs")
private func linuxSyncfs(_ descriptor: Int32) -> Int32

extension timespec {
    /// Nanoseconds since the epoch: how the tree and the stat cache keep times.
    public var nanoseconds: Int64 { Int64(tv_sec) * 1_000_000_000 + Int64(tv_nsec) }
}
