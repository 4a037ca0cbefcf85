import CGit2
import Foundation
import Pipeline

/// `git` backup point: a git collect point's own history is pushed as it is; any other collect point
/// gets a commit per changed run in a history kept in the stage's state directory, then pushed. A
/// `file://` remote that does not exist yet is created (bare). A push is never forced.
struct GitBackupPoint: BackupPointEngine {
    static let commitParameters: [ParameterSpec] = [
        ParameterSpec("branch", .string, default: "main", "Remote branch that receives the backups."),
        ParameterSpec("author_name", .string, default: "{username}", "Author and committer name of backup commits."),
        ParameterSpec("author_email", .string, default: "{username}@{fqdn}", "Author and committer e-mail."),
        ParameterSpec("commit_message", .string, default: "Backup of {name} {Y}-{m}-{d} {H}:{M}", "Commit message."),
    ]

    static let spec = EngineSpec("git", .backupPoint, "Pushes to a remote git repository over file://, git://, ssh:// or http(s)://.",
                                 parameters: [
        ParameterSpec("url", .url, required: true, "Remote repository URL; should depend on {name}."),
        ParameterSpec("password", .secret, "Password or token for http(s)://."),
        ParameterSpec("password_file", .path, "File whose first line is the password."),
    ] + commitParameters + TransportParameters.ssh, exclusive: [["password", "password_file"], ["known_hosts", "host_key_sha256"]])

    let push: GitPushWork

    init(_ parameters: EngineParameters, pair: Pair) throws {
        let url = try parameters.required("url")
        push = try GitPushWork(parameters, pair: pair, remote: .url(url, password: parameters.secret("password")))
    }

    var shape: BackupShape { push.shape(summary: "git → \(Redaction.maskingURLSecrets(push.remoteDescription))") }

    func catalog(_ context: RestoreContext) throws -> Catalog { try push.catalog(context) }

    func fetch(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Fetched {
        try push.fetch(backup, into: directory, context)
    }

    func verify(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Verification {
        try push.verify(backup, into: directory, context)
    }
}

/// The push stage of `git` and `gitlab`, and their listing and restore (through a private clone).
struct GitPushWork: StageWork {
    let version = "2"
    let alwaysRuns = false

    enum Remote: Sendable {
        case url(String, password: Secret?)
        /// GitLab: the project found (and created when missing) through the API first.
        case gitlab(GitLabProject)
    }

    let remote: Remote
    let branch: String
    let author: (name: String, email: String)
    let message: String
    let ssh: SSHSettings
    /// A git collect point's own history is pushed as it is (when the backup point has no filters).
    let history: GitHistoryReference?
    let recorder: BackupRecorder
    let resourceKeys: [String]

    init(_ parameters: EngineParameters, pair: Pair, remote: Remote) throws {
        self.remote = remote
        branch = parameters.string("branch") ?? "main"
        author = (parameters.string("author_name") ?? "polyarchiv", parameters.string("author_email") ?? "polyarchiv@localhost")
        message = parameters.string("commit_message") ?? "Backup"
        ssh = SSHSettings(parameters)
        history = pair.filters.isEmpty ? pair.collect.gitHistory : nil
        recorder = BackupRecorder(pair, metadataURL: pair.metadataURL)
        switch remote {
        case .url(let url, _):
            resourceKeys = TransportParameters.hostKey(url)
            let scheme = url.lowercased()
            guard url.hasPrefix("/") || ["file://", "git://", "ssh://", "http://", "https://"].contains(where: scheme.hasPrefix) else {
                throw ConfigurationError("`url` `\(Redaction.maskingURLSecrets(url))`: git pushes over file://, git://, ssh:// or http(s)://",
                                         parameter: "url")
            }
        case .gitlab(let project): resourceKeys = TransportParameters.hostKey(project.base)
        }
    }

    var remoteDescription: String {
        switch remote {
        case .url(let url, _): return url
        case .gitlab(let project): return project.base + " " + project.path
        }
    }

    func shape(summary: String) -> BackupShape {
        var parameters = Parameters()
        parameters["remote"] = .string(Redaction.maskingURLSecrets(remoteDescription))
        parameters["branch"] = .string(branch)
        parameters["author"] = .string(author.name + " <" + author.email + ">")
        parameters["message"] = .string(message)
        if let history { parameters["history"] = .string(history.repository + "#" + history.branch) }
        if let metadata = recorder.metadataURL { parameters["metadata_url"] = .string(metadata) }
        return BackupShape(upload: PlannedStage(work: self, parameters: parameters, summary: summary, resourceKeys: resourceKeys),
                           places: [remoteDescription] + (recorder.metadataURL.map { [$0] } ?? []), metadataURL: recorder.metadataURL)
    }

    /// The URL to push to and the password it takes.
    func target(_ secrets: Secrets, create: Bool, cancellation: CancellationFlag) throws -> (url: String, password: String?)? {
        switch remote {
        case .url(let url, let password): return (url, try password.map { try secrets.reveal($0) })
        case .gitlab(let project): return try project.remote(secrets, create: create, cancellation: cancellation)
        }
    }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let tree = try TreeAssembler.assemble(context)
            guard let (url, password) = try target(context.secrets, create: true, cancellation: context.cancellation) else {
                throw StageFailure("the GitLab project is missing")
            }
            if url.hasPrefix("file://") || url.hasPrefix("/") {
                let path = FileTransport.path(url)
                if try GitRepository.open(path) == nil { _ = try GitRepository.create(path, branch: branch, bare: true) }
            }
            let push = GitPush(password: password, ssh: ssh)
            let repository: GitRepository
            let localBranch: String
            if let history {
                localBranch = history.branch
                guard let opened = try GitRepository.open(history.repository) else {
                    throw StageFailure("the git collect point \(history.repository) has no repository")
                }
                repository = opened
            } else {
                localBranch = branch
                let directory = context.stateDirectory.appendingPathComponent("git")
                let path = directory.appendingPathComponent(context.node.id.path.joined(separator: "_") + ".git").path
                // Before the stage ids were typed, this history lived at `upload_BP_CP.git`: it is the remote's
                // history, moved rather than started afresh (a new, unrelated history would be refused).
                let legacy = directory.appendingPathComponent("upload_" + context.node.id.path.joined(separator: "_") + ".git").path
                if access(path, F_OK) != 0 && access(legacy, F_OK) == 0 && rename(legacy, path) != 0 {
                    throw StageFailure("cannot move this backup point's history from \(legacy) to \(path): \(FileIO.lastError)")
                }
                repository = try GitRepository.open(path) ?? GitRepository.create(path, branch: branch, bare: true)
                let treeID = try GitBlobIDs.write(tree, with: GitTreeWriter(repository: repository, store: context.store,
                                                                            cancellation: context.cancellation), context)
                let head = try repository.commit(onBranch: branch)
                if try head == nil || GitRepository.hex(repository.info(head!).tree) != GitRepository.hex(treeID) {
                    _ = try repository.commit(tree: treeID, branch: branch, parent: head, author: author,
                                              message: message + GitRepository.hostTrailer(recorder.host),
                                              date: context.date, moveHead: false)
                }
            }
            guard let commit = try repository.commit(onBranch: localBranch) else { throw StageFailure("nothing to push: \(localBranch) has no commit") }
            try push.push(repository, branch: localBranch, remoteBranch: branch, to: url, cancellation: context.cancellation)
            let location = Redaction.maskingURLSecrets(url) + "#" + GitRepository.hex(commit)
            let digest = try context.store.put(tree).digest
            try recorder.record(location, digest: digest, size: tree.totalSize, options: TransportOptions(), context: context)
            return [Artifact(kind: .remote, digest: digest, size: tree.totalSize, location: location)]
        }
    }

    /// A local (file://) remote still has the branch at or past the pushed commit; other remotes are trusted.
    func presence(of outputs: [Artifact], _ context: PresenceContext) -> Presence {
        guard case .url(let url, _) = remote, url.hasPrefix("file://") || url.hasPrefix("/") else { return .present }
        guard let location = outputs.first?.location, let commit = location.split(separator: "#").last,
              let repository = try? GitRepository.open(FileTransport.path(url)),
              let resolved = try? repository.resolve(String(commit)), GitRepository.hex(resolved) == commit else {
            return .gone("\(url) no longer holds the pushed commit")
        }
        return .present
    }

    /// Every commit of the branch, oldest first, read from a private clone.
    func catalog(_ context: RestoreContext) throws -> Catalog {
        guard let (url, password) = try target(context.secrets, create: false, cancellation: context.cancellation) else {
            return Catalog(place: Redaction.maskingURLSecrets(remoteDescription), entries: [])
        }
        return try withClone(url, password: password, context) { repository, _ in
            guard var commit = try repository.commit(onBranch: branch) else {
                return Catalog(place: Redaction.maskingURLSecrets(url), entries: [])
            }
            var entries: [CatalogEntry] = []
            while true {
                let info = try repository.info(commit)
                entries.append(CatalogEntry(location: Redaction.maskingURLSecrets(url) + "#" + GitRepository.hex(commit), digest: nil,
                                            size: nil, created: info.time, host: info.host))
                guard let parent = info.parents.first else { break }
                commit = parent
            }
            return Catalog(place: Redaction.maskingURLSecrets(url), entries: entries.reversed())
        }
    }

    func fetch(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Fetched {
        try fetch(backup, into: directory, context) { _ in }
    }

    /// A clone of the remote checked by `git fsck --full` (every object of the history, not only the
    /// backup's), and the backup's commit checked out for the checks of its content.
    func verify(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Verification {
        let git = try ExternalTool.locate(["git"], package: "git")
        let fetched = try fetch(backup, into: directory, context) { clone in
            try git.run(["--git-dir", clone, "fsck", "--full", "--no-progress", "--no-dangling"], timeout: nil,
                        cancellation: context.cancellation)
        }
        return Verification(lines: ["a clone passed git fsck --full", "commit \(backup.location.split(separator: "#").last ?? "") checked out"],
                            fetched: fetched)
    }

    private func fetch(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext,
                       checking check: (String) throws -> Void) throws -> Fetched {
        guard let commit = backup.location.split(separator: "#").last else { throw StageFailure("odd git backup location \(backup.location)") }
        guard let (url, password) = try target(context.secrets, create: false, cancellation: context.cancellation) else {
            throw StageFailure("the GitLab project is gone")
        }
        try withClone(url, password: password, context) { repository, path in
            try check(path)
            try repository.checkout(try repository.resolve(String(commit)), into: directory)
        }
        return .tree(directory)
    }

    private func withClone<T>(_ url: String, password: String?, _ context: RestoreContext,
                              _ body: (GitRepository, String) throws -> T) throws -> T {
        // In the restore's private scratch directory (0700): the clone holds the backup in clear.
        let path = context.scratch + "/clone-\(UUID().uuidString).git"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let repository = try GitPush(password: password, ssh: ssh).clone(url, into: path, cancellation: context.cancellation)
        return try body(repository, path)
    }
}
