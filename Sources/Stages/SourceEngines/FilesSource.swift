import Foundation
import Pipeline

/// `files` source: walks a directory into a tree, placed where it is: its files' bytes are not copied into
/// the store (the collect point copies them, checked against their digest). Symlinks stay symlinks; modes
/// and mtimes are kept. A stat cache lets an unchanged file (same size, mtime, ctime, inode, and modified
/// well before it was cached) keep its digest without being read; a changed file is read once, to hash it.
struct FilesSource: SourceEngine {
    static let spec = EngineSpec("files", .source, "A local directory tree, with include/exclude globs.", parameters: [
        ParameterSpec("path", .path, required: true, "The directory to back up."),
        ParameterSpec("exclude", .list, "Globs (gitignore style) of paths to leave out; `@FILE` reads patterns from a file."),
        ParameterSpec("include", .list, "Globs of paths to keep even when an exclude matches; `@FILE` reads a file."),
        ParameterSpec("one_file_system", .bool, default: "false", "Do not cross into other mounted file systems."),
        ParameterSpec("exclude_caches", .bool, default: "false",
                      "Leave out what a directory marked with a CACHEDIR.TAG holds (bford.info/cachedir); the directory and its tag are kept."),
        ParameterSpec("exclude_if_present", .list, "Leave out every directory that holds a file of one of these names (`.nobackup`)."),
        ParameterSpec("unreadable", .choice(["skip", "fail"]), default: "skip",
                      "An entry that cannot be read: `skip` leaves it out with a warning (apply exits 3), `fail` fails the source."),
    ])

    let version = "1"
    let alwaysRuns = true
    let root: String
    let excludes: PathPatterns
    let includes: PathPatterns
    let oneFileSystem: Bool
    let marks: DirectoryMarks
    /// An entry that cannot be read fails the source instead of being left out.
    let failOnUnreadable: Bool

    init(_ parameters: EngineParameters) throws {
        root = try parameters.required("path")
        do {
            excludes = try PathPatterns(parameters.list("exclude"))
            includes = try PathPatterns(parameters.list("include"))
        } catch {
            throw ConfigurationError("\(error)", parameter: "exclude")
        }
        oneFileSystem = parameters.bool("one_file_system") ?? false
        let present = parameters.list("exclude_if_present")
        if let bad = present.first(where: { $0.isEmpty || $0.contains("/") || $0 == "." || $0 == ".." }) {
            throw ConfigurationError("exclude_if_present: `\(bad)` is not a file name (no `/`)", parameter: "exclude_if_present")
        }
        marks = DirectoryMarks(excludeCaches: parameters.bool("exclude_caches") ?? false, excludeIfPresent: present)
        failOnUnreadable = parameters.string("unreadable") == "fail"
    }

    func defaultDestination(source name: String) -> String { "\(name)/" }
    var summary: String { "files \(root)" }
    /// Directories go back first: a database restored after them may live in one.
    var movesAsideInPlace: Bool { true }
    var putBackOrder: Int { 10 }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            var walker = Walker(root: root, excludes: excludes, includes: includes, oneFileSystem: oneFileSystem, context: context)
            walker.failOnUnreadable = failOnUnreadable
            walker.marks = marks
            let tree = try walker.walk()
            return [try context.store.put(tree, placedAt: walker.root)]
        }
    }

    func checkAccess(_ context: RestoreContext) throws -> String {
        guard let directory = opendir(root) else { throw StageFailure("cannot read \(root): \(FileIO.lastError)") }
        closedir(directory)
        return "\(root) can be read"
    }

    /// Back at its own path (`--in-place`: what is there is renamed aside, never deleted) or at `--into`.
    /// Copied beside the target and renamed into place when whole.
    func putBackIsAtomic(_ request: PutBackRequest) -> Bool { true }

    func putBack(_ data: String, _ request: PutBackRequest, _ context: RestoreContext) throws -> String {
        guard request.inPlace || request.into != nil else {
            return "the files of \(root) are in \(data); put them back with --in-place, or --into DIRECTORY"
        }
        return try InPlace.put(data, at: request.into ?? root, date: request.date)
    }

    /// Inside the tree, and not left out by `exclude` (at its own level or a parent's).
    func reads(_ path: String) -> Bool {
        let base = RemotePath.localPath(root) ?? root
        guard path == base || path.hasPrefix(base == "/" ? "/" : base + "/") else { return false }
        let components = path.dropFirst(base.count).split(separator: "/").map(String.init)
        for depth in components.indices {
            let relative = components[...depth].joined(separator: "/")
            if excludes.matches(relative, isDirectory: true) && !includes.matches(relative, isDirectory: true) { return false }
        }
        return true
    }

    func putBackNote(_ request: PutBackRequest) -> String? {
        let target = request.into ?? root
        guard request.inPlace || request.into != nil, InPlace.MountPoint.holds(target) else { return nil }
        return "\(target) is a mount point: it is filled where it is, what it holds moved into \(target)/.polyarchiv-before-restore-DATE"
    }

    /// A local directory walked into a tree as this source does (used by sources that first bring their
    /// data into a local directory: remote_files, dovecot). `keep`: the directory goes away after the stage, so
    /// its files are copied into the store; otherwise the tree is placed there.
    static func tree(of root: String, context: StageContext, copying: Bool) throws -> Tree {
        var walker = Walker(root: root, excludes: try PathPatterns([]), includes: try PathPatterns([]), oneFileSystem: false,
                            context: context)
        walker.copying = copying
        return try walker.walk()
    }

    private struct Walker {
        let root: String
        let excludes: PathPatterns
        let includes: PathPatterns
        let oneFileSystem: Bool
        let context: StageContext
        var entries: [Tree.Entry] = []
        var cache: [String: StatCache.Entry] = [:]
        var newCache: [String: StatCache.Entry] = [:]
        var bytes: Int64 = 0
        var rootDevice: UInt = 0
        /// Copy each read file into the store (its directory will not stay), rather than only hashing it.
        var copying = false
        var failOnUnreadable = false
        var marks = DirectoryMarks(excludeCaches: false, excludeIfPresent: [])
        /// Directories marked as caches: of what they hold only their tag is kept.
        var caches = Set<String>()
        /// The first entry that could not be read, when that fails the source.
        var unreadable: String?
        /// When this walk started: a file modified less than two seconds before it is not trusted by the stat
        /// cache next time (it could change again within its timestamp's resolution: the "racy" case).
        let started = Int64(Date().timeIntervalSince1970 * 1e9)
        /// Files to read, in batches hashed on two threads while the walk goes on.
        var batch: [PendingRead] = []
        var batchBytes: Int64 = 0
        var readers: OrderedWorkers<[PendingRead], [ReadResult]>?
        /// The first path seen of each file with several links: the others become hard links to it.
        var linked: [String: (path: String, index: Int)] = [:]
        /// Entries that are hard links to an earlier entry (by index): they get its digest once it is read.
        var links: [(link: Int, first: Int)] = []
        /// Entries of files that vanished before they were read.
        var vanished = Set<Int>()
        /// Files that changed while being read (not cached again, yet not removed).
        var unstable = Set<String>()
        var userNames: [uid_t: String] = [:]
        var groupNames: [gid_t: String] = [:]

        init(root: String, excludes: PathPatterns, includes: PathPatterns, oneFileSystem: Bool, context: StageContext) {
            self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
            self.excludes = excludes
            self.includes = includes
            self.oneFileSystem = oneFileSystem
            self.context = context
        }

        mutating func walk() throws -> Tree {
            var directoryWalk = DirectoryWalk(root: root)
            let statCache = StatCache(table: context.table("files.stat"), scope: context.node.id.description)
            cache = statCache.load()
            let readers = OrderedWorkers<[PendingRead], [ReadResult]>(threads: 2) { [context, copying] batch in
                let buffer = ReadBuffer(size: Int(min(1 << 20, max(4096, batch.map(\.size).max() ?? 0))))
                return try batch.map { try $0.read(copying: copying, buffer: buffer, context: context) }
            }
            defer { readers.finish() }
            self.readers = readers
            try directoryWalk.walk(root: { info in
                rootDevice = UInt(info.st_dev)
                // The root itself, so its mode and mtime travel with the tree.
                var top = Tree.Entry(kind: .directory, path: "", mode: UInt32(info.st_mode) & 0o7777, mtime: info.st_mtim.nanoseconds,
                                     owner: owner(info))
                top.xattrs = ExtendedAttributes.read(path: root)
                entries.append(top)
            }, visit: { found in try visit(found) }, problem: { leaveOut($0.shown, $0.reason) },
            cancelled: { try context.cancellation.check() })
            try submit()
            record(try readers.drain())
            for (link, first) in links {
                guard !vanished.contains(first) else {
                    vanished.insert(link)
                    continue
                }
                entries[link].digest = entries[first].digest
                entries[link].size = entries[first].size
                entries[link].mtime = entries[first].mtime
            }
            if let unreadable {
                throw StageFailure("\(unreadable) — and `unreadable: fail` makes that fail the source; fix its permissions or exclude it")
            }
            try statCache.replace(newCache, previous: cache)
            // What the previous run had that this one did not find: every file found went into the new cache,
            // unless it changed while being read.
            let linkedPaths = Set(links.map { entries[$0.link].path })
            for path in cache.keys.sorted() where newCache[path] == nil && !unstable.contains(path) && !linkedPaths.contains(path) {
                context.fileChanged(.removed, path)
            }
            let kept = vanished.isEmpty ? entries : entries.indices.filter { !vanished.contains($0) }.map { entries[$0] }
            return Tree(entries: kept)
        }

        /// An entry that could not be read (`shown`: its path escaped for a terminal): left out (warned and
        /// counted), or remembered to fail the source.
        private mutating func leaveOut(_ shown: String, _ reason: String) {
            if failOnUnreadable {
                if unreadable == nil { unreadable = "\(shown): \(reason)" }
            } else {
                context.leftOut("\(shown): \(reason); skipped")
            }
        }

        private mutating func submit() throws {
            guard let readers, !batch.isEmpty else { return }
            let due = try readers.submit(.work(batch))
            batch = []
            batchBytes = 0
            record(due)
        }

        /// What the readers found, written into the entries and the stat cache.
        private mutating func record(_ results: [[ReadResult]]) {
            for result in results.joined() {
                guard let digest = result.digest else {
                    leaveOut(TerminalText.escaped(result.file.absolute), result.failure ?? "it vanished while being read")
                    vanished.insert(result.file.index)
                    continue
                }
                bytes += result.read
                let before = cache[result.file.path]?.digest
                context.fileChanged(before == nil ? .new : before == digest ? .unchanged : .changed, result.file.path)
                entries[result.file.index].digest = digest
                entries[result.file.index].size = result.read
                if result.changed {
                    unstable.insert(result.file.path)
                    context.warn("\(TerminalText.escaped(result.file.absolute)) changed while being read; what was read is kept, "
                                 + "and it will be read again next run")
                    entries[result.file.index].mtime = result.mtimeAfter
                } else {
                    let file = result.file
                    newCache[file.path] = StatCache.Entry(size: file.size, mtime: file.mtime, ctime: file.ctime, inode: file.inode,
                                                          digest: digest, cachedAt: started)
                }
            }
            if !results.isEmpty { context.progress(bytes) }
        }

        /// The owner's ids and names (looked up once per id).
        private mutating func owner(_ info: stat) -> Tree.Owner {
            if userNames[info.st_uid] == nil { userNames[info.st_uid] = getpwuid(info.st_uid).map { String(cString: $0.pointee.pw_name) } ?? "" }
            if groupNames[info.st_gid] == nil { groupNames[info.st_gid] = getgrgid(info.st_gid).map { String(cString: $0.pointee.gr_name) } ?? "" }
            let user = userNames[info.st_uid]!, group = groupNames[info.st_gid]!
            return Tree.Owner(uid: info.st_uid, gid: info.st_gid, user: user.isEmpty ? nil : user, group: group.isEmpty ? nil : group)
        }

        private func excluded(_ path: String, isDirectory: Bool) -> Bool {
            excludes.matches(path, isDirectory: isDirectory) && !includes.matches(path, isDirectory: isDirectory)
        }

        /// One entry of the walk; true to enter it (a directory kept).
        private mutating func visit(_ found: DirectoryWalk.Entry) throws -> Bool {
            let info = found.info
            let path = found.relative
            if !caches.isEmpty, let slash = path.lastIndex(of: "/"), caches.contains(String(path[..<slash])),
               found.name != DirectoryMarks.cacheTag {
                return false
            }
            let mtime = info.st_mtim.nanoseconds
            let mode = UInt32(info.st_mode) & 0o7777
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                if excluded(path, isDirectory: true) { return false }
                switch marks.verdict(found.name, in: found.directory) {
                case .keep: break
                case .exclude: return false
                case .cache: caches.insert(path)
                }
                var entry = Tree.Entry(kind: .directory, path: path, mode: mode, mtime: mtime, owner: owner(info))
                entry.xattrs = ExtendedAttributes.read(found.name, in: found.directory)
                entries.append(entry)
                // Another file system: its mount point is kept (a restore needs it to mount onto), not what it holds.
                return !(oneFileSystem && UInt(info.st_dev) != rootDevice)
            case S_IFREG:
                if excluded(path, isDirectory: false) { return false }
                let inode = "\(info.st_dev):\(info.st_ino)"
                if info.st_nlink > 1, let first = linked[inode] {
                    var entry = entries[first.index]
                    entry.path = path
                    entry.hardlink = first.path
                    links.append((entries.count, first.index))
                    entries.append(entry)
                    return false
                }
                guard var entry = try file(found, mode: mode, mtime: mtime) else { return false }
                entry.owner = owner(info)
                entry.xattrs = ExtendedAttributes.read(found.name, in: found.directory)
                if info.st_nlink > 1 { linked[inode] = (path, entries.count) }
                entries.append(entry)
            case S_IFLNK:
                if excluded(path, isDirectory: false) { return false }
                guard let target = found.linkTarget() else {
                    leaveOut(TerminalText.escaped(found.absolute), "cannot read the link: \(FileIO.lastError)")
                    return false
                }
                var entry = Tree.Entry(kind: .symlink, path: path, mode: 0o777, mtime: mtime, target: target, owner: owner(info))
                entry.xattrs = ExtendedAttributes.read(found.name, in: found.directory)
                entries.append(entry)
            default:
                if !excluded(path, isDirectory: false) {
                    context.warn("\(TerminalText.escaped(found.absolute)) is a special file (socket, fifo or device); skipped")
                }
            }
            return false
        }

        /// The entry of a regular file: its digest from the stat cache, or (filled in when its batch is read)
        /// from reading it. It is opened here, relative to its directory, and must be the very file the walk
        /// saw; nil when it cannot be opened (reported, and left out).
        private mutating func file(_ found: DirectoryWalk.Entry, mode: UInt32, mtime: Int64) throws -> Tree.Entry? {
            let info = found.info, path = found.relative
            let ctime = info.st_ctim.nanoseconds
            let size = Int64(info.st_size)
            // Same stat as when it was read, and modified well before that: trusted unread.
            if let known = cache[path], known.size == size, known.mtime == mtime, known.ctime == ctime,
               known.inode == Int64(info.st_ino), known.cachedAt - max(mtime, ctime) > 2_000_000_000,
               !copying || context.store.size(of: known.digest) == size {
                newCache[path] = known
                context.fileChanged(.unchanged, path)
                context.store.noteTrusted(found.absolute, known.digest, FileIdentity(info))
                return Tree.Entry(kind: .file, path: path, mode: mode, size: size, mtime: mtime, digest: known.digest)
            }
            // O_NONBLOCK: a FIFO put in its place cannot hold the walk; the checks below refuse it.
            let descriptor = found.openForReading()
            guard descriptor >= 0 else {
                let reason = errno == ENOENT ? "it vanished while being read"
                    : errno == ELOOP ? "it was replaced by a link while being read" : FileIO.lastError
                leaveOut(TerminalText.escaped(found.absolute), reason)
                return nil
            }
            let opened = OpenFile(descriptor)
            var now = stat()
            guard fstat(descriptor, &now) == 0, now.st_mode & S_IFMT == S_IFREG, now.st_dev == info.st_dev, now.st_ino == info.st_ino else {
                leaveOut(TerminalText.escaped(found.absolute), "it was replaced while being read")
                return nil
            }
            batch.append(PendingRead(index: entries.count, file: opened, absolute: found.absolute, path: path, size: size, mtime: mtime,
                                     ctime: ctime, inode: Int64(info.st_ino)))
            batchBytes += size
            if batch.count >= 64 || batchBytes >= 8 << 20 { try submit() }
            return Tree.Entry(kind: .file, path: path, mode: mode, size: size, mtime: mtime)
        }
    }
}

/// A descriptor closed with its last owner (a read that never ran, when the walk stops, still closes it).
final class OpenFile: @unchecked Sendable {
    let descriptor: Int32

    init(_ descriptor: Int32) { self.descriptor = descriptor }

    deinit { close(descriptor) }
}

/// A file the walk found changed (or new), opened by the walk: read on a worker thread, to hash it (or copy
/// it into the store). No more than the size the walk saw is read: a log appended to meanwhile gives the
/// bytes it held then, the very bytes the collect point takes (it reads no further either).
private struct PendingRead: Sendable {
    let index: Int
    let file: OpenFile
    let absolute: String
    let path: String
    let size: Int64
    let mtime: Int64
    let ctime: Int64
    let inode: Int64

    /// Its digest (nil: it could not be read, and why), and whether it changed while being read.
    func read(copying: Bool, buffer: ReadBuffer, context: StageContext) throws -> ReadResult {
        let descriptor = file.descriptor
        let writer = copying ? try context.store.makeWriter() : nil
        var hash = StreamingHash()
        var remaining = size
        while remaining > 0 {
            try context.cancellation.check()
            let count = Glibc.read(descriptor, buffer.bytes.baseAddress, Int(min(Int64(buffer.bytes.count), remaining)))
            if count < 0 {
                if errno == EINTR { continue }
                return ReadResult(file: self, digest: nil, read: 0, mtimeAfter: mtime, failure: FileIO.lastError)
            }
            if count == 0 { break }
            remaining -= Int64(count)
            let bytesRead = UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count])
            if let writer { try writer.write(bytesRead) } else { hash.update(bytesRead) }
        }
        var after = stat()
        fstat(descriptor, &after)
        let mtimeAfter = after.st_mtim.nanoseconds
        let read = writer?.count ?? hash.count
        let digest = try writer.map { try $0.finish().digest } ?? hash.finalize()
        var result = ReadResult(file: self, digest: digest, read: read, mtimeAfter: mtimeAfter)
        result.changed = mtimeAfter != mtime || read != size || Int64(after.st_size) != size
        if !result.changed { context.store.noteTrusted(absolute, digest, FileIdentity(after)) }
        return result
    }
}

private struct ReadResult: Sendable {
    let file: PendingRead
    let digest: Digest?
    let read: Int64
    let mtimeAfter: Int64
    /// Why it could not be read.
    var failure: String?
    var changed = false

    init(file: PendingRead, digest: Digest?, read: Int64, mtimeAfter: Int64, failure: String? = nil) {
        self.file = file
        self.digest = digest
        self.read = read
        self.mtimeAfter = mtimeAfter
        self.failure = failure
    }
}

/// A reusable byte buffer, freed with its owner.
final class ReadBuffer: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer

    init(size: Int) { bytes = .allocate(byteCount: size, alignment: 16) }

    deinit { bytes.deallocate() }
}
