import CGit2
import Crypto
import Foundation
import Pipeline

/// Writes a collected tree into a repository's object database: blobs streamed from the store
/// (skipped when git already has them), then trees bottom-up. Empty directories are dropped: git
/// does not record them.
struct GitTreeWriter {
    let repository: GitRepository
    let store: ContentStore
    let cancellation: CancellationFlag

    func write(_ tree: Tree) throws -> git_oid {
        var odb: OpaquePointer?
        try GitRepository.check(git_repository_odb(&odb, repository.handle), "cannot open the object database")
        defer { git_odb_free(odb) }
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
                guard entry.digest != nil else { continue }
                let oid = try blob(entry, odb: odb)
                children[directory, default: []].append((name, oid, entry.mode & 0o100 != 0 ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB))
            case .symlink:
                var oid = git_oid()
                let target = Array((entry.target ?? "").utf8)
                try GitRepository.check(git_blob_create_from_buffer(&oid, repository.handle, target, target.count), "cannot store a link")
                children[directory, default: []].append((name, oid, GIT_FILEMODE_LINK))
            case .directory:
                continue
            }
        }
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
                try GitRepository.check(git_treebuilder_insert(nil, builder, entry.name, &oid, entry.mode),
                                        "cannot add `\(entry.name)` to a tree")
            }
            var oid = git_oid()
            try GitRepository.check(git_treebuilder_write(&oid, builder), "cannot write a tree")
            if directory.isEmpty { return oid }
            let (up, name) = parent(directory)
            children[up, default: []].append((name, oid, GIT_FILEMODE_TREE))
        }
        var empty = git_oid()
        var builder: OpaquePointer?
        try GitRepository.check(git_treebuilder_new(&builder, repository.handle, nil), "cannot build a tree")
        defer { git_treebuilder_free(builder) }
        try GitRepository.check(git_treebuilder_write(&empty, builder), "cannot write a tree")
        return empty
    }

    /// Git's id of the blob (SHA-1 of `blob SIZE\0` and the bytes); written only when git lacks it.
    private func blob(_ entry: Tree.Entry, odb: OpaquePointer?) throws -> git_oid {
        var hasher = Insecure.SHA1()
        hasher.update(data: Data("blob \(entry.size)\0".utf8))
        try store.read(entry) { hasher.update(bufferPointer: $0) }
        var oid = git_oid()
        let raw = Array(hasher.finalize())
        try GitRepository.check(git_oid_fromraw(&oid, raw), "bad object id")
        if git_odb_exists(odb, &oid) == 1 { return oid }
        var stream: UnsafeMutablePointer<git_writestream>?
        try GitRepository.check(git_blob_create_from_stream(&stream, repository.handle, nil), "cannot write a blob")
        do {
            try store.read(entry) { chunk in
                try cancellation.check()
                let code = stream!.pointee.write(stream, chunk.baseAddress?.assumingMemoryBound(to: CChar.self), chunk.count)
                try GitRepository.check(code, "cannot write a blob")
            }
        } catch {
            stream?.pointee.free(stream)
            throw error
        }
        var written = git_oid()
        try GitRepository.check(git_blob_create_from_stream_commit(&written, stream), "cannot write a blob")
        return written
    }
}
