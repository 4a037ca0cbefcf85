import Foundation

/// A directory tree walked as whoever can write into it cannot steer: every entry is reached relative to
/// its directory's descriptor (`fstatat`/`openat` with `O_NOFOLLOW`), a directory is entered only when the
/// descriptor opened holds the device and inode the listing saw, and the walk keeps an explicit stack (a
/// 10,000-deep chain costs memory for its names, not the thread's stack). At most `maximumOpen` directory
/// descriptors stay open; a deeper ancestor is opened again, checked the same way, when the walk comes back
/// to it. Entries come in pre-order, each directory's names sorted by their bytes.
public struct DirectoryWalk {
    /// An entry found: valid during the callback only (`directory` is closed after it).
    public struct Entry {
        /// The descriptor of the directory that holds it.
        public let directory: Int32
        public let name: String
        /// `/`-separated from the root, no leading slash.
        public let relative: String
        /// Its `fstatat` (not following a link).
        public let info: stat
        /// The root's path joined with `relative`, for messages.
        public var absolute: String { root == "/" ? "/" + relative : root + "/" + relative }
        let root: String

        /// The target of the link it is (as `FileName` carries it), nil when it cannot be read.
        public func linkTarget() -> String? {
            var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = buffer.withUnsafeMutableBytes { raw in
                readlinkat(directory, FileName.system(name), raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count - 1)
            }
            return count < 0 ? nil : FileName.decode(buffer[0..<count])
        }

        /// Opens it for reading, relative to its directory, without following a link or blocking on a FIFO.
        public func openForReading() -> Int32 {
            openat(directory, FileName.system(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        }
    }

    /// What the walk could not read, for the caller to report: the path and the reason.
    public struct Problem {
        /// The path, escaped for a terminal.
        public let shown: String
        public let reason: String

        init(absolute: String, reason: String) {
            shown = TerminalText.escaped(absolute)
            self.reason = reason
        }
    }

    private struct Frame {
        var descriptor: Int32
        let relative: String
        let name: String
        let device: UInt64
        let inode: UInt64
        var names: [String]
        var next = 0
    }

    /// A path (`FileName` bytes included) as given.
    public let root: String
    public var maximumOpen = 64
    private var frames: [Frame] = []

    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    /// Walks from the root (which may be a link: the configuration names it). `visit` decides for each
    /// directory whether to enter it; `problem` hears of each entry that could not be read (a directory that
    /// cannot be opened or was swapped while being walked); `cancelled` is asked
    /// before each directory. The root's own `stat` is returned first through `root`.
    public mutating func walk(root rootFound: (stat) throws -> Void, visit: (Entry) throws -> Bool,
                              problem: (Problem) -> Void, cancelled: () throws -> Void = {}) throws {
        let descriptor = open(FileName.system(root), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            let error = errno
            let advice = error == ENOENT ? "; check the `path` in the configuration (a mount that is not there?)"
                : error == ENOTDIR ? "; `path` must be a directory"
                : error == EACCES ? "; run polyarchiv as a user that can read it (root, for system files)" : ""
            throw StageFailure("cannot open the directory \(root): \(String(cString: strerror(error)))\(advice)")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            close(descriptor)
            throw StageFailure("cannot read the directory \(root): \(FileIO.lastError)")
        }
        defer {
            for frame in frames where frame.descriptor >= 0 { close(frame.descriptor) }
            frames = []
        }
        try rootFound(info)
        guard let names = Self.names(descriptor, at: root, problem: problem) else {
            close(descriptor)
            throw StageFailure("cannot read the directory \(root): \(FileIO.lastError)")
        }
        frames = [Frame(descriptor: descriptor, relative: "", name: "", device: UInt64(info.st_dev), inode: UInt64(info.st_ino),
                        names: names)]
        while !frames.isEmpty {
            let top = frames.count - 1
            guard frames[top].next < frames[top].names.count else {
                if frames[top].descriptor >= 0 { close(frames[top].descriptor) }
                frames.removeLast()
                continue
            }
            guard try reopen(top, problem: problem) else {
                frames.removeLast()
                continue
            }
            let name = frames[top].names[frames[top].next]
            frames[top].next += 1
            let parent = frames[top].descriptor
            let relative = frames[top].relative.isEmpty ? name : frames[top].relative + "/" + name
            var info = stat()
            guard fstatat(parent, FileName.system(name), &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                problem(Problem(absolute: absolute(relative), reason: errno == ENOENT ? "it vanished while being read" : FileIO.lastError))
                continue
            }
            let entry = Entry(directory: parent, name: name, relative: relative, info: info, root: root)
            guard try visit(entry), info.st_mode & S_IFMT == S_IFDIR else { continue }
            try cancelled()
            try enter(entry, problem: problem)
        }
    }

    /// The names in the directory at `path`, as `FileName` carries them, sorted.
    public static func names(in path: String) throws -> [String] {
        let descriptor = open(FileName.system(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw StageFailure("cannot read the directory \(TerminalText.escaped(path)): \(FileIO.lastError)") }
        defer { close(descriptor) }
        guard let names = names(descriptor, at: path, problem: { _ in }) else {
            throw StageFailure("cannot read the directory \(TerminalText.escaped(path)): \(FileIO.lastError)")
        }
        return names
    }

    /// Moves everything in `source` into `directory` (on the same file system), by name.
    public static func moveContents(of source: String, into directory: String) throws {
        for name in try names(in: source) where rename(FileName.system(source + "/" + name), FileName.system(directory + "/" + name)) != 0 {
            throw StageFailure("cannot move \(TerminalText.escaped(source + "/" + name)) into \(directory): \(FileIO.lastError)")
        }
    }

    /// Deletes `path` and, when it is a directory, everything under it (links are removed, never followed),
    /// however deep and whatever bytes its names hold.
    public static func remove(_ path: String) throws {
        var info = stat()
        guard lstat(FileName.system(path), &info) == 0 else {
            if errno == ENOENT { return }
            throw StageFailure("cannot delete \(TerminalText.escaped(path)): \(FileIO.lastError)")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            guard unlink(FileName.system(path)) == 0 || errno == ENOENT else {
                throw StageFailure("cannot delete \(TerminalText.escaped(path)): \(FileIO.lastError)")
            }
            return
        }
        var directories: [String] = []
        var failure: String?
        var walk = DirectoryWalk(root: path)
        try walk.walk(root: { _ in }, visit: { found in
            if found.info.st_mode & S_IFMT == S_IFDIR {
                directories.append(found.absolute)
                return true
            }
            if unlinkat(found.directory, FileName.system(found.name), 0) != 0 && errno != ENOENT && failure == nil {
                failure = "cannot delete \(TerminalText.escaped(found.absolute)): \(FileIO.lastError)"
            }
            return false
        }, problem: { if failure == nil { failure = "cannot delete \($0.shown): \($0.reason)" } })
        for directory in directories.reversed() + [path] where rmdir(FileName.system(directory)) != 0 && errno != ENOENT {
            throw StageFailure(failure ?? "cannot delete \(TerminalText.escaped(directory)): \(FileIO.lastError)")
        }
    }

    private func absolute(_ relative: String) -> String { root == "/" ? "/" + relative : root + "/" + relative }

    /// Opens a directory the listing saw, checks it is the one it saw, and pushes its names.
    private mutating func enter(_ entry: Entry, problem: (Problem) -> Void) throws {
        guard let descriptor = Self.openDirectory(entry.directory, entry.name, device: UInt64(entry.info.st_dev),
                                                  inode: UInt64(entry.info.st_ino), at: entry.absolute, problem: problem) else { return }
        guard let names = Self.names(descriptor, at: entry.absolute, problem: problem) else {
            problem(Problem(absolute: entry.absolute, reason: FileIO.lastError))
            close(descriptor)
            return
        }
        frames.append(Frame(descriptor: descriptor, relative: entry.relative, name: entry.name, device: UInt64(entry.info.st_dev),
                            inode: UInt64(entry.info.st_ino), names: names))
        // Ancestors far up the path give their descriptor back; they are opened again on the way back.
        let far = frames.count - 1 - maximumOpen
        if far > 0, frames[far].descriptor >= 0 {
            close(frames[far].descriptor)
            frames[far].descriptor = -1
        }
    }

    /// Opens the frame's directory again from its nearest open ancestor, each step checked; false (and the
    /// problem reported) when the path changed since.
    private mutating func reopen(_ index: Int, problem: (Problem) -> Void) throws -> Bool {
        guard frames[index].descriptor < 0 else { return true }
        var base = index - 1
        while frames[base].descriptor < 0 { base -= 1 }
        var current = frames[base].descriptor
        for step in (base + 1)...index {
            let frame = frames[step]
            let next = Self.openDirectory(current, frame.name, device: frame.device, inode: frame.inode, at: absolute(frame.relative),
                                          problem: problem)
            if current != frames[base].descriptor { close(current) }
            guard let next else { return false }
            current = next
        }
        frames[index].descriptor = current
        return true
    }

    /// `name` under `parent`, opened as a directory without following a link or blocking, when it is still
    /// the device and inode expected.
    private static func openDirectory(_ parent: Int32, _ name: String, device: UInt64, inode: UInt64, at absolute: String,
                                      problem: (Problem) -> Void) -> Int32? {
        let descriptor = openat(parent, FileName.system(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let reason = errno == ENOENT ? "it vanished while being read"
                : errno == ELOOP || errno == ENOTDIR ? "it was replaced while being read" : FileIO.lastError
            problem(Problem(absolute: absolute, reason: reason))
            return nil
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode else {
            close(descriptor)
            problem(Problem(absolute: absolute, reason: "it was replaced while being read"))
            return nil
        }
        return descriptor
    }

    /// The names in a directory (its own descriptor stays open), as `FileName` carries them, sorted.
    private static func names(_ descriptor: Int32, at absolute: String, problem: (Problem) -> Void) -> [String]? {
        let copy = dup(descriptor)
        guard copy >= 0, let handle = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            return nil
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let item = readdir(handle) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { FileName.decode($0.prefix { $0 != 0 }) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted(by: Tree.precedes)
    }
}
