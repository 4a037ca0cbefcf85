import CGit2
import Foundation
import Pipeline

/// Writes a collected tree into a repository's object database: blobs first, then trees bottom-up. Empty
/// directories are dropped: git does not record them.
///
/// A blob whose content the last run wrote is known by its SHA-256 (`known`, kept by the collect point) and
/// not read again while git still has it; the others are read once each, streamed into the object database
/// (libgit2 hashes and compresses as they come), in batches on two threads with a repository handle each.
struct GitTreeWriter {
    let repository: GitRepository
    let store: ContentStore
    let cancellation: CancellationFlag

    /// The tree's id, and the git blob id of each content digest in it (for the next run's `known`).
    func write(_ tree: Tree, known: [Digest: String]) throws -> (tree: git_oid, blobs: [Digest: String]) {
        var odb: OpaquePointer?
        try GitRepository.check(git_repository_odb(&odb, repository.handle), "cannot open the object database")
        defer { git_odb_free(odb) }
        var blobs: [Digest: git_oid] = [:]
        var missing: [Tree.Entry] = []
        var queued = Set<Digest>()
        for entry in tree.entries where entry.kind == .file {
            guard let digest = entry.digest, blobs[digest] == nil, !queued.contains(digest) else { continue }
            if let hex = known[digest], var oid = Self.oid(hex), git_odb_exists(odb, &oid) == 1 {
                blobs[digest] = oid
            } else {
                missing.append(entry)
                queued.insert(digest)
            }
        }
        try writeBlobs(missing) { digest, oid in blobs[digest] = oid }

        var children: [String: [(name: String, oid: git_oid, mode: git_filemode_t)]] = [:]
        func parent(_ path: String) -> (String, String) {
            guard let slash = path.lastIndex(of: "/") else { return ("", path) }
            return (String(path[..<slash]), String(path[path.index(after: slash)...]))
        }
        for entry in tree.entries where entry.kind != .directory {
            try cancellation.check()
            let (directory, name) = parent(entry.path)
            switch entry.kind {
            case .file:
                guard let digest = entry.digest, let oid = blobs[digest] else { continue }
                children[directory, default: []].append((name, oid, entry.mode & 0o100 != 0 ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB))
            case .symlink:
                var oid = git_oid()
                let target = FileName.bytes(entry.target ?? "")
                try GitRepository.check(git_blob_create_from_buffer(&oid, repository.handle, target, target.count), "cannot store a link")
                children[directory, default: []].append((name, oid, GIT_FILEMODE_LINK))
            case .directory:
                continue
            }
        }
        let ids = blobs.mapValues(GitRepository.hex)
        // Directories deepest first, each one becoming an entry of its parent.
        var directories: Set<String> = [""]
        for path in children.keys {
            var current = path
            while !current.isEmpty && directories.insert(current).inserted { current = parent(current).0 }
        }
        for directory in directories.sorted(by: { $0.split(separator: "/").count > $1.split(separator: "/").count }) {
            guard let entries = children[directory], !entries.isEmpty || directory.isEmpty else { continue }
            var builder: OpaquePointer?
            try GitRepository.check(git_treebuilder_new(&builder, repository.handle, nil), "cannot build a tree")
            defer { git_treebuilder_free(builder) }
            for entry in entries {
                var oid = entry.oid
                // Git names are bytes: one that is not UTF-8 goes as the bytes it stands for.
                try GitRepository.check(git_treebuilder_insert(nil, builder, FileName.system(entry.name), &oid, entry.mode),
                                        "cannot add `\(entry.name)` to a tree")
            }
            var oid = git_oid()
            try GitRepository.check(git_treebuilder_write(&oid, builder), "cannot write a tree")
            if directory.isEmpty { return (oid, ids) }
            let (up, name) = parent(directory)
            children[up, default: []].append((name, oid, GIT_FILEMODE_TREE))
        }
        var empty = git_oid()
        var builder: OpaquePointer?
        try GitRepository.check(git_treebuilder_new(&builder, repository.handle, nil), "cannot build a tree")
        defer { git_treebuilder_free(builder) }
        try GitRepository.check(git_treebuilder_write(&empty, builder), "cannot write a tree")
        return (empty, ids)
    }

    /// Streams each entry's bytes into the object database (checked against its digest as they are read).
    private func writeBlobs(_ entries: [Tree.Entry], found: (Digest, git_oid) -> Void) throws {
        guard !entries.isEmpty else { return }
        let path = repository.path
        let store = self.store
        let cancellation = self.cancellation
        let workers = OrderedWorkers<[Tree.Entry], [(Digest, git_oid)]>(threads: 2) { batch in
            // A handle of this thread's own: libgit2 objects are not shared between threads.
            guard let repository = try GitRepository.open(path) else { throw StageFailure("\(path) is no longer a git repository") }
            var odb: OpaquePointer?
            try GitRepository.check(git_repository_odb(&odb, repository.handle), "cannot open the object database")
            defer { git_odb_free(odb) }
            return try batch.map { entry in
                try cancellation.check()
                var stream: UnsafeMutablePointer<git_odb_stream>?
                try GitRepository.check(git_odb_open_wstream(&stream, odb, git_object_size_t(entry.size), GIT_OBJECT_BLOB), "cannot write a blob")
                defer { git_odb_stream_free(stream) }
                try store.read(entry) { chunk in
                    try GitRepository.check(git_odb_stream_write(stream, chunk.baseAddress?.assumingMemoryBound(to: CChar.self), chunk.count),
                                            "cannot write a blob")
                }
                var oid = git_oid()
                try GitRepository.check(git_odb_stream_finalize_write(&oid, stream), "cannot write a blob")
                return (entry.digest!, oid)
            }
        }
        defer { workers.finish() }
        var batch: [Tree.Entry] = []
        var bytes: Int64 = 0
        func record(_ done: [[(Digest, git_oid)]]) { for (digest, oid) in done.joined() { found(digest, oid) } }
        for entry in entries {
            batch.append(entry)
            bytes += entry.size
            if batch.count >= 64 || bytes >= 16 << 20 {
                record(try workers.submit(.work(batch)))
                batch = []
                bytes = 0
            }
        }
        if !batch.isEmpty { record(try workers.submit(.work(batch))) }
        record(try workers.drain())
    }

    static func oid(_ hex: String) -> git_oid? {
        var oid = git_oid()
        return git_oid_fromstr(&oid, hex) == 0 ? oid : nil
    }
}

/// Git's blob ids by content digest, as the last run of a stage wrote them: kept per stage in the journal's
/// `git.blobs` namespace.
enum GitBlobIDs {
    static func load(_ context: StageContext) -> [Digest: String] {
        let entries = (try? context.table("git.blobs").entries(scope: context.node.id.description)) ?? [:]
        return entries.reduce(into: [:]) { result, item in
            if let digest = Digest(hex: item.key) { result[digest] = String(decoding: item.value, as: UTF8.self) }
        }
    }

    /// Replaces the stage's ids with this run's (nothing is written when nothing changed).
    static func save(_ blobs: [Digest: String], previous: [Digest: String], _ context: StageContext) throws {
        guard blobs != previous else { return }
        try context.table("git.blobs").replace(scope: context.node.id.description,
                                               with: blobs.reduce(into: [:]) { $0[$1.key.hex] = (Data($1.value.utf8), []) })
    }

    /// Writes `tree` with the ids of the stage's last run, and keeps this run's.
    static func write(_ tree: Tree, with writer: GitTreeWriter, _ context: StageContext) throws -> git_oid {
        let previous = load(context)
        let (id, blobs) = try writer.write(tree, known: previous)
        try save(blobs, previous: previous, context)
        return id
    }
}
