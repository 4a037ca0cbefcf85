import CGit2
import Foundation
import Pipeline

/// A libgit2 repository handle, confined to the thread that opened it (use it inside one blocking
/// closure and let it go). Every failure carries libgit2's own message.
final class GitRepository {
    let handle: OpaquePointer
    let path: String

    private static let initialised: Int32 = git_libgit2_init()

    static func check(_ code: Int32, _ what: @autoclosure () -> String) throws {
        guard code >= 0 else {
            let message = git_error_last().map { String(cString: $0.pointee.message) } ?? "libgit2 error \(code)"
            throw StageFailure("\(what()): \(message)")
        }
    }

    private init(handle: OpaquePointer, path: String) {
        self.handle = handle
        self.path = path
    }

    deinit { git_repository_free(handle) }

    /// Opens the repository whose work tree is `path`, or nil when `path` holds none.
    static func open(_ path: String) throws -> GitRepository? {
        _ = initialised
        var handle: OpaquePointer?
        let code = git_repository_open_ext(&handle, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil)
        if code == GIT_ENOTFOUND.rawValue { return nil }
        try check(code, "cannot open the git repository \(path)")
        return GitRepository(handle: handle!, path: path)
    }

    /// Creates a repository with a work tree at `path`, its HEAD on `branch`.
    static func create(_ path: String, branch: String, bare: Bool = false) throws -> GitRepository {
        _ = initialised
        var options = git_repository_init_options()
        try check(git_repository_init_options_init(&options, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION)), "libgit2 init options")
        options.flags = UInt32(GIT_REPOSITORY_INIT_MKPATH.rawValue) | (bare ? UInt32(GIT_REPOSITORY_INIT_BARE.rawValue) : 0)
        var handle: OpaquePointer?
        try branch.withCString { name in
            options.initial_head = name
            try check(git_repository_init_ext(&handle, path, &options), "cannot create a git repository at \(path)")
        }
        return GitRepository(handle: handle!, path: path)
    }

    /// The commit a branch points at, or nil when the branch has no commit yet.
    func commit(onBranch branch: String) throws -> git_oid? {
        var oid = git_oid()
        // A clone has a local branch only for the remote's HEAD: another branch is a remote-tracking one.
        for reference in ["refs/heads/\(branch)", "refs/remotes/origin/\(branch)"] {
            let code = git_reference_name_to_id(&oid, handle, reference)
            if code == GIT_ENOTFOUND.rawValue { continue }
            try Self.check(code, "cannot read branch \(branch) in \(path)")
            return oid
        }
        return nil
    }

    /// A commit id, a short id, or any revision git understands.
    func resolve(_ revision: String) throws -> git_oid {
        var object: OpaquePointer?
        try Self.check(git_revparse_single(&object, handle, revision + "^{commit}"), "no commit `\(revision)` in \(path)")
        defer { git_object_free(object) }
        return git_object_id(object).pointee
    }

    struct CommitInfo {
        let id: git_oid
        let tree: git_oid
        let time: Date
        let parents: [git_oid]
        /// The host that made it: its `Polyarchiv-Host:` trailer (nil for a commit without one).
        var host: String? = nil
    }

    /// The trailer polyarchiv ends its commit messages with, so hosts sharing a remote tell their commits apart.
    static func hostTrailer(_ host: String) -> String { "\n\nPolyarchiv-Host: " + host + "\n" }

    func info(_ commit: git_oid) throws -> CommitInfo {
        var oid = commit
        var handle: OpaquePointer?
        try Self.check(git_commit_lookup(&handle, self.handle, &oid), "cannot read commit \(Self.hex(commit))")
        defer { git_commit_free(handle) }
        let parents = (0..<git_commit_parentcount(handle)).map { git_commit_parent_id(handle, $0).pointee }
        let message = git_commit_message(handle).map { String(cString: $0) } ?? ""
        let host = message.split(separator: "\n").last { $0.hasPrefix("Polyarchiv-Host: ") }.map { String($0.dropFirst("Polyarchiv-Host: ".count)) }
        return CommitInfo(id: commit, tree: git_commit_tree_id(handle).pointee,
                          time: Date(timeIntervalSince1970: TimeInterval(git_commit_time(handle))), parents: parents, host: host)
    }

    /// Commits `tree` on `branch` (with the branch's commit as parent) and returns the new commit.
    func commit(tree: git_oid, branch: String, parent: git_oid?, author: (name: String, email: String), message: String,
                date: Date, moveHead: Bool = true) throws -> git_oid {
        var signature: UnsafeMutablePointer<git_signature>?
        let offset = Int32(TimeZone.current.secondsFromGMT(for: date) / 60)
        try Self.check(git_signature_new(&signature, author.name, author.email, git_time_t(date.timeIntervalSince1970), offset),
                       "invalid author `\(author.name) <\(author.email)>`")
        defer { git_signature_free(signature) }
        var treeID = tree
        var treeHandle: OpaquePointer?
        try Self.check(git_tree_lookup(&treeHandle, handle, &treeID), "cannot read the tree to commit")
        defer { git_tree_free(treeHandle) }
        var parentHandle: OpaquePointer?
        if var parentID = parent {
            try Self.check(git_commit_lookup(&parentHandle, handle, &parentID), "cannot read the parent commit")
        }
        defer { git_commit_free(parentHandle) }
        var result = git_oid()
        var parents: [OpaquePointer?] = parentHandle.map { [$0] } ?? []
        try parents.withUnsafeMutableBufferPointer { buffer in
            try Self.check(git_commit_create(&result, handle, "refs/heads/\(branch)", signature, signature, "UTF-8", message,
                                             treeHandle, buffer.count, buffer.baseAddress), "cannot commit in \(path)")
        }
        if moveHead { try Self.check(git_repository_set_head(handle, "refs/heads/\(branch)"), "cannot point HEAD at \(branch)") }
        return result
    }

    /// Makes `directory` (outside the repository: a restore) hold exactly the tree of `commit`; the index is left alone.
    func checkout(_ commit: git_oid, into directory: String) throws {
        var oid = commit
        var object: OpaquePointer?
        try Self.check(git_object_lookup(&object, handle, &oid, GIT_OBJECT_COMMIT), "cannot read commit \(Self.hex(commit))")
        defer { git_object_free(object) }
        var options = git_checkout_options()
        try Self.check(git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION)), "libgit2 checkout options")
        options.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue | GIT_CHECKOUT_DONT_UPDATE_INDEX.rawValue
        try directory.withCString { target in
            options.target_directory = target
            try Self.check(git_checkout_tree(handle, object, &options), "cannot check out into \(directory)")
        }
    }

    /// Makes the index hold `tree`, with the stat data of the work tree's files (which the caller wrote to
    /// match it), so `git status` sees a clean work tree without reading a file.
    func setIndex(to tree: git_oid) throws {
        var oid = tree
        var treeHandle: OpaquePointer?
        try Self.check(git_tree_lookup(&treeHandle, handle, &oid), "cannot read tree \(Self.hex(tree))")
        defer { git_tree_free(treeHandle) }
        var index: OpaquePointer?
        try Self.check(git_repository_index(&index, handle), "cannot open the index of \(path)")
        defer { git_index_free(index) }
        try Self.check(git_index_read_tree(index, treeHandle), "cannot fill the index of \(path)")
        for position in 0..<git_index_entrycount(index) {
            guard var entry = git_index_get_byindex(index, position)?.pointee else { continue }
            var info = stat()
            let name = FileName.decode(cString: entry.path)
            guard lstat(FileName.system(path + "/" + name), &info) == 0 else { continue }
            entry.ctime = git_index_time(seconds: Int32(truncatingIfNeeded: info.st_ctim.tv_sec),
                                         nanoseconds: UInt32(truncatingIfNeeded: info.st_ctim.tv_nsec))
            entry.mtime = git_index_time(seconds: Int32(truncatingIfNeeded: info.st_mtim.tv_sec),
                                         nanoseconds: UInt32(truncatingIfNeeded: info.st_mtim.tv_nsec))
            entry.dev = UInt32(truncatingIfNeeded: info.st_dev)
            entry.ino = UInt32(truncatingIfNeeded: info.st_ino)
            entry.uid = info.st_uid
            entry.gid = info.st_gid
            entry.file_size = UInt32(truncatingIfNeeded: info.st_size)
            try Self.check(git_index_add(index, &entry), "cannot update the index of \(path)")
        }
        try Self.check(git_index_write(index), "cannot write the index of \(path)")
    }

    static func hex(_ oid: git_oid) -> String {
        var copy = oid
        return withUnsafeBytes(of: &copy.id) { $0.map { String(format: "%02x", $0) }.joined() }
    }
}
