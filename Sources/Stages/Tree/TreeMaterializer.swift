import Foundation
import Pipeline

/// Makes a directory hold exactly a tree: new and changed files are written beside their final name and
/// renamed into place (a reader never sees half a file), files that left the tree are deleted, and
/// unchanged files (same size and mtime) are left alone. Each file is copied from where its bytes are (a
/// source file, in the kernel when this run verified it; else checked against its digest while copied), or
/// linked from the store (a dump). Nothing is fsynced file by file: the stage's caller flushes the file
/// system once, before the journal records the stage (`StageContext.wrote`).
enum TreeMaterializer {
    static let temporarySuffix = ".polyarchiv-tmp"
    /// Marks a directory polyarchiv owns. Materialising deletes what is not in the tree, so it refuses a
    /// non-empty directory without this mark: a `path` pointed at live data must not wipe it.
    static let ownerMark = ".polyarchiv-collect-point"

    /// Who vouches that polyarchiv may replace what is in the directory.
    enum Owner {
        /// Its own mark file (`ownerMark`), made in a new or empty directory.
        case markFile
        /// A git repository polyarchiv created (the caller checked it): `.git` is left alone.
        case gitRepository
    }

    static func materialize(_ tree: Tree, at root: String, store: ContentStore, cancellation: CancellationFlag, owner: Owner = .markFile,
                            progress: (Int64) -> Void) throws {
        let kept: String
        switch owner {
        case .markFile:
            try claim(root)
            kept = ownerMark
        case .gitRepository:
            kept = ".git"
        }
        let asRoot = geteuid() == 0
        var written: Int64 = 0
        try removeExtraneous(root, wanted: Set(tree.entries.map(\.path)), kept: kept)
        let files = Set(tree.files.map(\.path))
        // Files are written on two threads, in batches (the directories they go in are made first, here).
        let writers = OrderedWorkers<[(entry: Tree.Entry, path: String, existing: mode_t?)], Int64>(threads: 2) { batch in
            for file in batch {
                try cancellation.check()
                try writeFile(file.entry, to: file.path, replacing: file.existing, store: store)
            }
            return batch.reduce(0) { $0 + $1.entry.size }
        }
        defer { writers.finish() }
        var batch: [(entry: Tree.Entry, path: String, existing: mode_t?)] = []
        var batchBytes: Int64 = 0
        func wrote(_ sizes: [Int64]) {
            for size in sizes { written += size }
            if !sizes.isEmpty { progress(written) }
        }
        func submit() throws {
            guard !batch.isEmpty else { return }
            wrote(try writers.submit(.work(batch)))
            batch = []
            batchBytes = 0
        }
        for entry in tree.entries where !entry.path.isEmpty {
            try cancellation.check()
            let path = root + "/" + entry.path
            switch entry.kind {
            case .directory:
                var info = stat()
                let system = FileName.system(path)
                if lstat(system, &info) == 0 && (info.st_mode & S_IFMT) != S_IFDIR { unlink(system) }
                if mkdir(system, 0o700) != 0 && errno != EEXIST {
                    throw StageFailure("cannot create \(TerminalText.escaped(path)): \(String(cString: strerror(errno)))")
                }
                // Writable by its owner while it is filled (a source directory may be 0555); its own mode comes last.
                chmod(system, mode_t((UInt32(info.st_mode) & 0o7777) | 0o700))
            case .symlink:
                var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
                let count = buffer.withUnsafeMutableBytes { raw in
                    readlink(FileName.system(path), raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count - 1)
                }
                let current = count >= 0 ? FileName.decode(buffer[0..<count]) : nil
                if current != entry.target {
                    var info = stat()
                    if lstat(FileName.system(path), &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                        try DirectoryWalk.remove(path)  // a directory became a link
                    }
                    let temporary = FileName.system(path + temporarySuffix)
                    unlink(temporary)
                    guard symlink(FileName.system(entry.target ?? ""), temporary) == 0, rename(temporary, FileName.system(path)) == 0 else {
                        throw StageFailure("cannot create the link \(TerminalText.escaped(path)): \(String(cString: strerror(errno)))")
                    }
                }
            case .file:
                if let target = entry.hardlink, files.contains(target) { continue }  // linked below, once its target is there
                var info = stat()
                let exists = lstat(FileName.system(path), &info) == 0
                let mtime = exists ? info.st_mtim.nanoseconds : -1
                if mtime == entry.mtime && Int64(info.st_size) == entry.size && (info.st_mode & S_IFMT) == S_IFREG && !store.isDamaged(path) {
                    if asRoot, let owner = entry.owner, owner.uid != info.st_uid || owner.gid != info.st_gid {
                        lchown(FileName.system(path), owner.uid, owner.gid)
                    }
                    if UInt32(info.st_mode) & 0o7777 != entry.mode { chmod(FileName.system(path), mode_t(entry.mode)) }
                    ExtendedAttributes.set(entry.xattrs, path: path)
                    continue
                }
                batch.append((entry, path, exists ? info.st_mode : nil))
                batchBytes += entry.size
                if batch.count >= 64 || batchBytes >= 8 << 20 { try submit() }
            }
        }
        try submit()
        wrote(try writers.drain())
        for entry in tree.files {
            guard let target = entry.hardlink, files.contains(target) else { continue }
            try link(root + "/" + target, as: root + "/" + entry.path)
        }
        // Files got their owner when written (a later chown would change their ctime, and this run's
        // knowledge that they hold what was verified).
        if asRoot {
            for entry in tree.entries where !entry.path.isEmpty && entry.kind != .file {
                if let owner = entry.owner { lchown(FileName.system(root + "/" + entry.path), owner.uid, owner.gid) }
            }
        }
        // Extended attributes after the owner (a chown clears a capability); links take only what they hold.
        for entry in tree.entries where !entry.path.isEmpty && entry.kind != .file && (entry.kind == .directory || !entry.xattrs.isEmpty) {
            ExtendedAttributes.set(entry.xattrs, path: root + "/" + entry.path)
        }
        // Directory modes and mtimes last, deepest first: writing inside a directory changes its mtime.
        for entry in tree.entries.reversed() where entry.kind == .directory && !entry.path.isEmpty {
            let path = root + "/" + entry.path
            chmod(FileName.system(path), mode_t(entry.mode))
            setTimes(path, entry.mtime, followLinks: true)
        }
        for entry in tree.entries where entry.kind == .symlink { setTimes(root + "/" + entry.path, entry.mtime, followLinks: false) }
    }

    /// `path` becomes a hard link to `target` (replaced in one rename, left alone when it already is one).
    private static func link(_ target: String, as path: String) throws {
        var targetInfo = stat(), pathInfo = stat()
        if lstat(FileName.system(target), &targetInfo) == 0, lstat(FileName.system(path), &pathInfo) == 0, targetInfo.st_ino == pathInfo.st_ino,
           targetInfo.st_dev == pathInfo.st_dev { return }
        let temporary = FileName.system(path + temporarySuffix)
        unlink(temporary)
        guard Glibc.link(FileName.system(target), temporary) == 0, rename(temporary, FileName.system(path)) == 0 else {
            throw StageFailure("cannot link \(TerminalText.escaped(path)) to \(TerminalText.escaped(target)): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether the directory still holds `tree` as materialised: every file with its size and mtime, and none
    /// found damaged in this run.
    static func holds(_ tree: Tree, at root: String, store: ContentStore) -> Bool {
        for entry in tree.entries where entry.kind == .file {
            var info = stat()
            let path = root + "/" + entry.path
            guard lstat(FileName.system(path), &info) == 0, Int64(info.st_size) == entry.size,
                  info.st_mtim.nanoseconds == entry.mtime, !store.isDamaged(path) else {
                return false
            }
        }
        return true
    }

    /// Creates the directory with the owner mark, or checks that an existing one is ours (or empty).
    static func claim(_ root: String) throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let mark = root + "/" + ownerMark
        if FileManager.default.fileExists(atPath: mark) { return }
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        guard existing.isEmpty else {
            throw StageFailure("the collect point path \(root) is not empty and was not made by polyarchiv (no \(ownerMark) "
                               + "file); polyarchiv replaces everything in it, so point `path` at a new or empty directory")
        }
        // Written in place (no temporary file): a run killed here leaves an empty directory or the mark.
        let descriptor = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StageFailure("cannot write \(mark): \(FileIO.lastError)") }
        defer { close(descriptor) }
        let text = "This directory is a polyarchiv collect point: polyarchiv replaces its content on every run.\n"
        try text.utf8CString.dropLast().withUnsafeBytes { try FileIO.writeAll(descriptor, $0, what: mark) }
    }

    /// `replacing`: the mode of what is at `path` now (nil: nothing).
    private static func writeFile(_ entry: Tree.Entry, to path: String, replacing existing: mode_t?, store: ContentStore) throws {
        guard let digest = entry.digest else { return }
        let temporary = FileName.system(path + temporarySuffix)
        let shown = TerminalText.escaped(path)
        // A directory where the file goes: it goes (files that were under it left the tree too).
        if let existing, existing & S_IFMT == S_IFDIR { try? DirectoryWalk.remove(path) }
        // A dump in the store (mode 0600, as dumps have) becomes the collect point's file by a link: no copy.
        if entry.source == nil, entry.mode == TreeAssembler.dumpMode, store.size(of: digest) == entry.size {
            unlink(temporary)
            if Glibc.link(store.path(of: digest), temporary) == 0 {
                if geteuid() == 0, let owner = entry.owner { lchown(temporary, owner.uid, owner.gid) }
                chmod(temporary, mode_t(entry.mode))
                setTimes(path + temporarySuffix, entry.mtime, followLinks: false)
                try moveIntoPlace(temporary, path)
                store.noteVerified(path, digest)
                return
            }
        }
        // Leftovers of an interrupted run were deleted before (`removeExtraneous`).
        var descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor < 0 && errno == EEXIST {
            unlink(temporary)
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        }
        guard descriptor >= 0 else { throw StageFailure("cannot write \(shown)\(temporarySuffix): \(String(cString: strerror(errno)))") }
        do {
            let input = entry.source.map { open(FileName.system($0), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY) } ?? -1
            defer { if input >= 0 { close(input) } }
            if let source = entry.source, input >= 0, store.isVerified(source, digest, descriptor: input) {
                try FileCopy.copy(input, from: source, to: descriptor, size: entry.size, what: path)
                // The source may not change while it is copied: it was verified, and is trusted, as it was.
                guard store.isVerified(source, digest, descriptor: input) else { throw ContentStore.StoreError.changed(digest, path: source) }
            } else {
                var writer = SparseWriter(descriptor, what: shown)
                try store.read(entry) { chunk in try writer.write(chunk) }
                try writer.finish()
            }
            // The owner before the mode: chown clears the set-id bits.
            if geteuid() == 0, let owner = entry.owner { fchown(descriptor, owner.uid, owner.gid) }
            fchmod(descriptor, mode_t(entry.mode))
            ExtendedAttributes.set(entry.xattrs, descriptor: descriptor)
            let time = timespec(tv_sec: Int(entry.mtime / 1_000_000_000), tv_nsec: Int(entry.mtime % 1_000_000_000))
            var times = [time, time]
            futimens(descriptor, &times)
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        guard close(descriptor) == 0 else {
            let reason = FileIO.lastError
            unlink(temporary)
            throw StageFailure("cannot write \(shown): \(reason)")
        }
        try moveIntoPlace(temporary, path)
        store.noteVerified(path, digest)
    }

    /// The finished temporary file takes its final name.
    private static func moveIntoPlace(_ temporary: [CChar], _ path: String) throws {
        guard Glibc.rename(temporary, FileName.system(path)) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw StageFailure("cannot move \(TerminalText.escaped(path)) into place: \(reason)")
        }
    }

    private static func setTimes(_ path: String, _ mtime: Int64, followLinks: Bool) {
        let time = timespec(tv_sec: Int(mtime / 1_000_000_000), tv_nsec: Int(mtime % 1_000_000_000))
        var times = [time, time]
        utimensat(AT_FDCWD, FileName.system(path), &times, followLinks ? 0 : AT_SYMLINK_NOFOLLOW)
    }

    /// Deletes what is on disk but not in the tree (and leftovers of an interrupted run).
    private static func removeExtraneous(_ root: String, wanted: Set<String>, kept: String) throws {
        var walk = DirectoryWalk(root: root)
        try walk.walk(root: { _ in }, visit: { found in
            if found.relative == kept { return false }
            guard !wanted.contains(found.relative) || found.name.hasSuffix(temporarySuffix) else { return true }
            do {
                try DirectoryWalk.remove(found.absolute)
            } catch {
                throw StageFailure("\(error), which left the sources")
            }
            return false
        }, problem: { _ in })
    }
}
