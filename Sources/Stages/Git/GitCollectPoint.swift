import CGit2
import Foundation
import Pipeline

/// `git` collect point: the collected tree committed in a repository at `path` (one commit per run,
/// only when the tree changed) and checked out in its work tree.
struct GitCollectPoint: StageRunner {
    let version = "1"
    let alwaysRuns = false

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        guard let path = parameters.string("path") else { throw StageFailure("collect point without a path") }
        let branch = parameters.string("branch") ?? "main"
        let author = (parameters.string("author_name") ?? "polyarchiv", parameters.string("author_email") ?? "polyarchiv@localhost")
        let message = parameters.string("commit_message") ?? "Backup"
        return try await context.blocking {
            let tree = try TreeAssembler.assemble(context.inputs, store: context.store, journal: context.journal, date: context.date)
            let repository = try Self.openOrCreate(path, branch: branch)
            chmod(path, 0o700)  // dumps land in the work tree: only their owner may read them
            let treeID = try GitTreeWriter(repository: repository, store: context.store, cancellation: context.cancellation).write(tree)
            var commit = try repository.commit(onBranch: branch)
            if try commit == nil || GitRepository.hex(repository.info(commit!).tree) != GitRepository.hex(treeID) {
                commit = try repository.commit(tree: treeID, branch: branch, parent: commit, author: author, message: message,
                                               date: context.date)
            }
            try repository.checkout(commit!)
            let artifact = try context.store.put(tree)
            try context.journal.recordPlacement(path, digest: artifact.digest)
            return [artifact]
        }
    }

    /// The repository at `path`; a new one when `path` is missing or empty. Any other directory is refused:
    /// its files would be overwritten or deleted by the checkout.
    static func openOrCreate(_ path: String, branch: String) throws -> GitRepository {
        if let repository = try GitRepository.open(path) { return repository }
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: path), !existing.isEmpty {
            throw StageFailure("\(path) is neither empty nor a git repository; point the git collect point at a new or empty "
                               + "directory (nothing was changed)")
        }
        return try GitRepository.create(path, branch: branch)
    }

    /// The repository is there, its branch has a commit, and it was made from this tree.
    func isStillInPlace(_ node: StageNode, outputs: [Artifact], journal: Journal, store: ContentStore) -> Bool {
        guard let path = node.parameters.string("path"), let tree = outputs.first,
              (try? journal.placement(path)) == tree.digest,
              let repository = try? GitRepository.open(path),
              (try? repository.commit(onBranch: node.parameters.string("branch") ?? "main")) != nil else { return false }
        return true
    }
}

/// Restoring a commit of a git collect point's own history.
public enum GitHistory {
    /// Checks out into `directory` the commit `revision`, or the newest on `branch` at or before `at`.
    /// Returns the commit's id and time.
    public static func checkout(repository path: String, branch: String, revision: String?, at: Date?,
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
