import CGit2
import Foundation
import Pipeline

/// `git` backup point: a git collect point's own history is pushed as it is; any other collect point
/// gets a commit per changed run in a history kept in the stage's state directory, then pushed.
/// A `file://` remote that does not exist yet is created (bare).
struct GitBackupPoint: StageRunner {
    let version = "1"
    let alwaysRuns = false

    func run(_ context: StageContext) async throws -> [Artifact] {
        guard let url = context.node.parameters.string("url") else { throw StageFailure("git backup point without a url") }
        return try await Self.push(context, url: url, parameters: context.node.parameters)
    }

    /// The collect point's history, or a commit of its tree in ours, pushed to `url`.
    static func push(_ context: StageContext, url: String, parameters: Parameters) async throws -> [Artifact] {
        let branch = parameters.string("branch") ?? "main"
        return try await context.blocking {
            let tree = try TreeAssembler.assemble(context.inputs, store: context.store, journal: context.journal, date: context.date)
            if url.hasPrefix("file://") || url.hasPrefix("/") {
                let path = FileTransport.path(url)
                if try GitRepository.open(path) == nil { _ = try GitRepository.create(path, branch: branch, bare: true) }
            }
            let push = try GitPush(parameters)
            let repository: GitRepository
            let localBranch: String
            if let source = parameters.string("source_repository") {
                localBranch = parameters.string("source_branch") ?? "main"
                guard let opened = try GitRepository.open(source) else { throw StageFailure("the git collect point \(source) has no repository") }
                repository = opened
            } else {
                localBranch = branch
                let path = context.stateDirectory.appendingPathComponent("git")
                    .appendingPathComponent(context.node.id.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ":", with: "_") + ".git").path
                repository = try GitRepository.open(path) ?? GitRepository.create(path, branch: branch, bare: true)
                let treeID = try GitTreeWriter(repository: repository, store: context.store, cancellation: context.cancellation).write(tree)
                let head = try repository.commit(onBranch: branch)
                if try head == nil || GitRepository.hex(repository.info(head!).tree) != GitRepository.hex(treeID) {
                    let author = (parameters.string("author_name") ?? "polyarchiv", parameters.string("author_email") ?? "polyarchiv@localhost")
                    _ = try repository.commit(tree: treeID, branch: branch, parent: head, author: author,
                                              message: parameters.string("commit_message") ?? "Backup", date: context.date, moveHead: false)
                }
            }
            guard let commit = try repository.commit(onBranch: localBranch) else { throw StageFailure("nothing to push: \(localBranch) has no commit") }
            try push.push(repository, branch: localBranch, remoteBranch: branch, to: url, cancellation: context.cancellation)
            let url = Redaction.maskingURLPassword(url)
            let digest = try context.store.put(tree).digest
            try ArchiveUpload.record(url + "#" + GitRepository.hex(commit), digest: digest, size: tree.totalSize, context: context)
            return [Artifact(kind: .remote, digest: digest, size: tree.totalSize, location: url + "#" + GitRepository.hex(commit))]
        }
    }

    /// A local (file://) remote still has the branch at or past the pushed commit; other remotes are trusted.
    func isStillInPlace(_ node: StageNode, outputs: [Artifact], journal: Journal, store: ContentStore) -> Bool {
        guard let url = node.parameters.string("url"), url.hasPrefix("file://") || url.hasPrefix("/") else { return true }
        guard let location = outputs.first?.location, let commit = location.split(separator: "#").last,
              let repository = try? GitRepository.open(FileTransport.path(url)),
              let resolved = try? repository.resolve(String(commit)) else { return false }
        return GitRepository.hex(resolved) == commit
    }
}
