import Foundation
import Pipeline

/// A fetched backup opened as a restore opens it, as far as this host can (`verify`, and `ls`/`find`/`diff`
/// for backups without a stored listing): the backup point's filters undone on the archive, the archive
/// extracted, the filters on the tree undone (a hashes index checked on the way).
public struct BackupOpener: Sendable {
    /// The backup point's filters when it ships an archive, in the order they ran.
    public let archiveFilters: [any FilterEngine]
    /// Filters on the tree in the order they ran (the collect point's, then the backup point's), undone last to first.
    public let treeFilters: [any FilterEngine]

    /// A backup point's filters run on the archive it ships, or on the tree after the collect point's.
    public init(shipsArchive: Bool, backupPointFilters: [any FilterEngine], collectPointFilters: [any FilterEngine]) {
        archiveFilters = shipsArchive ? backupPointFilters : []
        treeFilters = collectPointFilters + (shipsArchive ? [] : backupPointFilters)
    }

    public struct Opened: Sendable {
        /// The tree, in a directory; nil when a filter needs an identity this host does not hold.
        public let directory: String?
        /// What was checked (a hashes index), or why it could not be opened.
        public let lines: [String]
    }

    public func open(_ fetched: Fetched, in scratch: String, _ context: RestoreContext) throws -> Opened {
        if let locked = (archiveFilters + treeFilters).first(where: { !$0.canUndo(context) }) {
            return Opened(directory: nil, lines: ["its content was not opened: \(type(of: locked).spec.name) needs an identity this host does not hold"])
        }
        let tree: String
        switch fetched {
        case .archive(let file):
            var current = file
            for (index, filter) in archiveFilters.enumerated().reversed() {
                let output = scratch + "/unfiltered-\(index)"
                try filter.undo(file: current, to: output, context)
                if current != file { unlink(current) }
                current = output
            }
            tree = scratch + "/tree"
            try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            let refused = try TarReader.extract(current, into: tree, cancellation: context.cancellation)
            if !refused.isEmpty { throw RestoredTreeCheck.refusal(refused) }
        case .tree(let directory):
            tree = directory
        }
        // Before any filter reads it: what polyarchiv never writes means the backup was tampered with.
        let refused = RestoredTreeCheck.check(tree, keepSpecialBits: true)
        if !refused.isEmpty { throw RestoredTreeCheck.refusal(refused) }
        var lines: [String] = []
        for filter in treeFilters.reversed() {
            if let index = try filter.undo(directory: tree, context) { lines.append("\(index) matches every file") }
        }
        return Opened(directory: tree, lines: lines)
    }
}

/// A directory walked into a tree for listing: kinds, paths, modes, sizes, mtimes and link targets, and with
/// `hashing` the files' SHA-256 (for a comparison of contents; without, nothing is read but the metadata).
public enum TreeListing {
    public static func walk(_ root: String, hashing: Bool = false) throws -> Tree {
        var entries: [Tree.Entry] = []
        var walk = DirectoryWalk(root: root)
        var problems: [String] = []
        try walk.walk(root: { _ in }, visit: { found in
            let info = found.info, path = found.relative
            let mtime = info.st_mtim.nanoseconds
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                entries.append(Tree.Entry(kind: .directory, path: path, mode: UInt32(info.st_mode & 0o7777), mtime: mtime))
                return true
            case S_IFLNK:
                entries.append(Tree.Entry(kind: .symlink, path: path, mode: 0o777, mtime: mtime, target: found.linkTarget() ?? ""))
            default:
                let digest = hashing ? try Self.digest(found, size: Int64(info.st_size)) : nil
                entries.append(Tree.Entry(kind: .file, path: path, mode: UInt32(info.st_mode & 0o7777), size: Int64(info.st_size),
                                          mtime: mtime, digest: digest))
            }
            return false
        }, problem: { problems.append("\($0.shown): \($0.reason)") })
        if let first = problems.first { throw StageFailure("cannot list \(root): \(first)") }
        return Tree(entries: entries)
    }

    /// The SHA-256 of at most `size` bytes of a file, read through the walk's own descriptor.
    private static func digest(_ found: DirectoryWalk.Entry, size: Int64) throws -> Digest {
        let descriptor = found.openForReading()
        guard descriptor >= 0 else { throw StageFailure("cannot read \(TerminalText.escaped(found.absolute)): \(FileIO.lastError)") }
        defer { close(descriptor) }
        var hash = StreamingHash()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while hash.count < size {
            let count = read(descriptor, buffer.baseAddress, Int(min(Int64(buffer.count), size - hash.count)))
            guard count > 0 else { break }
            hash.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return hash.finalize()
    }
}
