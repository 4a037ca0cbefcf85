import CGit2
import Foundation
import Pipeline

/// `git` collect point: the collected tree committed in a repository at `path` (one commit per run,
/// only when the tree changed) and checked out in its work tree. It only ever works in a repository it
/// created itself (its mark is in `.git`): a checkout replaces the work tree.
struct GitCollectPoint: CollectPointEngine {
    static let spec = EngineSpec("git", .collectPoint, "A local git repository: one commit per run, only when something changed.",
                                 parameters: [
        CollectPointPath.spec,
        ParameterSpec("author_name", .string, default: "{username}", "Author and committer name."),
        ParameterSpec("author_email", .string, default: "{username}@{fqdn}", "Author and committer e-mail."),
        ParameterSpec("commit_message", .string, default: "Backup {Y}-{m}-{d} {H}:{M}", "Commit message."),
        ParameterSpec("branch", .string, default: "main", "Branch that receives the commits."),
    ])

    /// Marks a repository polyarchiv created (inside `.git`, so it is not part of the work tree).
    static let ownerMark = "polyarchiv-collect-point"

    let version = "1"
    let alwaysRuns = false
    let path: String
    let branch: String
    let author: (name: String, email: String)
    let message: String

    init(_ parameters: EngineParameters) throws {
        path = try parameters.required("path")
        branch = parameters.string("branch") ?? "main"
        author = (parameters.string("author_name") ?? "polyarchiv", parameters.string("author_email") ?? "polyarchiv@localhost")
        message = parameters.string("commit_message") ?? "Backup"
    }

    var summary: String { "git at \(path) (\(branch))" }
    var treeDirectory: TreeDirectory? { TreeDirectory(path: path, exclude: [".git"]) }
    var gitHistory: GitHistoryReference? { GitHistoryReference(repository: path, branch: branch) }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let tree = try TreeAssembler.assemble(context)
            let repository = try Self.openOrCreate(path, branch: branch)
            chmod(path, 0o700)  // dumps land in the work tree: only their owner may read them
            // Unchanged files are not read again: git's ids of the last run's blobs are known.
            let treeID = try GitBlobIDs.write(tree, with: GitTreeWriter(repository: repository, store: context.store,
                                                                        cancellation: context.cancellation), context)
            var commit = try repository.commit(onBranch: branch)
            if try commit == nil || GitRepository.hex(repository.info(commit!).tree) != GitRepository.hex(treeID) {
                commit = try repository.commit(tree: treeID, branch: branch, parent: commit, author: author,
                                               message: message + GitRepository.hostTrailer(HostName.short()), date: context.date)
            }
            // The work tree is written like a files collect point (streamed, unchanged files left alone), then
            // the index is set to match it: a libgit2 checkout would inflate every blob again, whole in memory.
            try TreeMaterializer.materialize(tree, at: path, store: context.store, cancellation: context.cancellation,
                                             owner: .gitRepository, progress: context.progress)
            try repository.setIndex(to: try repository.info(commit!).tree)
            context.wrote(path)
            // The work tree holds the files now (checked against their digests when read: git keeps no mtimes).
            let artifact = try context.store.put(tree, placedAt: path)
            try Placements(context.journal).record(path, holds: artifact.digest)
            return [artifact]
        }
    }

    /// The repository at `path`, which polyarchiv made; a new one when `path` is missing or empty. Anything
    /// else is refused: its tracked files and uncommitted edits would be replaced by the checkout.
    static func openOrCreate(_ path: String, branch: String) throws -> GitRepository {
        if let repository = try GitRepository.open(path) {
            guard FileManager.default.fileExists(atPath: path + "/.git/" + ownerMark) else {
                throw StageFailure("\(path) is a git repository polyarchiv did not create; a git collect point replaces its work tree, "
                                   + "so point `path` at a new or empty directory (nothing was changed)")
            }
            return repository
        }
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: path), !existing.isEmpty {
            throw StageFailure("\(path) is neither empty nor a git repository; point the git collect point at a new or empty "
                               + "directory (nothing was changed)")
        }
        let repository = try GitRepository.create(path, branch: branch)
        guard FileManager.default.createFile(atPath: path + "/.git/" + ownerMark,
                                             contents: Data("This repository is a polyarchiv collect point.\n".utf8)) else {
            throw StageFailure("cannot mark \(path) as polyarchiv's")
        }
        return repository
    }

    /// The repository is there, its branch has a commit, and it was made from this tree.
    func presence(of outputs: [Artifact], _ context: PresenceContext) -> Presence {
        guard let tree = outputs.first, Placements(context.journal).digest(at: path) == tree.digest,
              let repository = try? GitRepository.open(path),
              (try? repository.commit(onBranch: branch)) != nil else {
            return .gone("the repository \(path) no longer holds the last commit")
        }
        return .present
    }

    func restoreItself(at: Date?, commit: String?, into directory: String, _ context: RestoreContext) throws -> RestoredCopy {
        let (id, time) = try GitHistory.checkout(repository: path, branch: branch, revision: commit, at: at, into: directory)
        return RestoredCopy(source: "git commit \(id.prefix(12)) of \(path)", created: time, fetched: .tree(directory))
    }
}

/// Restoring a commit of a git collect point's own history.
enum GitHistory {
    /// Checks out into `directory` the commit `revision`, or the newest on `branch` at or before `at`.
    /// Returns the commit's id and time.
    static func checkout(repository path: String, branch: String, revision: String?, at: Date?,
                                into directory: String) throws -> (id: String, time: Date) {
        guard let repository = try GitRepository.open(path) else { throw StageFailure("\(path) is not a git repository") }
        var commit: GitRepository.CommitInfo
        if let revision {
            commit = try repository.info(try repository.resolve(revision))
        } else {
            guard let head = try repository.commit(onBranch: branch) else { throw StageFailure("branch \(branch) of \(path) has no commit") }
            commit = try repository.info(head)
            while let at, commit.time > at {
                guard let parent = commit.parents.first else {
                    throw StageFailure("no commit of \(path) at or before \(ISO8601DateFormatter().string(from: at))")
                }
                commit = try repository.info(parent)
            }
        }
        try repository.checkout(commit.id, into: directory)
        return (GitRepository.hex(commit.id), commit.time)
    }
}
