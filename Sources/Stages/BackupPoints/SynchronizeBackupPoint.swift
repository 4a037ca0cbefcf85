import Foundation
import Pipeline

/// `synchronize` backup point: the remote side becomes a mirror of the collect point. A folder or
/// `ssh://` URL is mirrored with rsync (each file written to a temporary name and renamed); an
/// `http(s)://` WebDAV URL gets only the files that changed since the last run (each PUT under a
/// temporary name and MOVEd), and loses the ones that left. Either way a `.polyarchiv-tree` manifest is
/// written last, so a fresh machine can restore the mirror.
struct SynchronizeBackupPoint: BackupPointEngine {
    static let spec = EngineSpec("synchronize", .backupPoint,
                                 "Mirrors the collect point with rsync (folder or ssh://) or WebDAV, deletions included.", parameters: [
        ParameterSpec("url", .url, required: true, "A folder, file://, ssh://user@host/path or http(s):// WebDAV URL."),
        ParameterSpec("delete", .bool, default: "true", "Delete remote files that are gone locally."),
    ] + TransportParameters.all, exclusive: TransportParameters.exclusive)

    static let manifest = ".polyarchiv-tree"

    let mirror: Mirror

    init(_ parameters: EngineParameters, pair: Pair) throws {
        let url = try parameters.required("url")
        let scheme = Transports.scheme(url)
        guard ["file", "ssh", "http", "https"].contains(scheme) else {
            throw ConfigurationError("`url` `\(Redaction.maskingURLSecrets(url))`: synchronize mirrors to a folder, file://, ssh:// or "
                                     + "http(s):// WebDAV", parameter: "url")
        }
        mirror = Mirror(url: url, delete: parameters.bool("delete") ?? true, transport: try TransportSettings(parameters),
                        ssh: SSHSettings(parameters), timeout: parameters.seconds("timeout").map(TimeInterval.init),
                        directory: pair.filters.isEmpty ? pair.collect.treeDirectory : nil,
                        recorder: BackupRecorder(pair, metadataURL: pair.metadataURL))
    }

    var shape: BackupShape {
        var parameters = Parameters()
        parameters["url"] = .string(mirror.url)
        parameters["delete"] = .bool(mirror.delete)
        if let metadata = mirror.recorder.metadataURL { parameters["metadata_url"] = .string(metadata) }
        return BackupShape(upload: PlannedStage(work: mirror, parameters: parameters,
                                                summary: "synchronize → \(Redaction.maskingURLSecrets(mirror.url))",
                                                resourceKeys: TransportParameters.hostKey(mirror.url)),
                           places: [mirror.url] + (mirror.recorder.metadataURL.map { [$0] } ?? []), metadataURL: mirror.recorder.metadataURL)
    }

    func catalog(_ context: RestoreContext) throws -> Catalog {
        guard let tree = try mirror.manifest(context.secrets, cancellation: context.cancellation) else {
            return Catalog(place: Redaction.maskingURLSecrets(mirror.url), entries: [])
        }
        let newest = tree.entries.map(\.mtime).max() ?? 0
        return Catalog(place: Redaction.maskingURLSecrets(mirror.url), entries: [
            CatalogEntry(location: mirror.url, digest: nil, size: tree.totalSize, created: Date(timeIntervalSince1970: Double(newest) / 1e9),
                         host: nil),
        ])
    }

    func fetch(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Fetched {
        try mirror.fetch(into: directory, context)
        return .tree(directory)
    }
}

/// The mirror's upload stage, and reading it back.
struct Mirror: StageWork {
    let version = "2"
    let alwaysRuns = false
    let url: String
    let delete: Bool
    let transport: TransportSettings
    let ssh: SSHSettings
    let timeout: TimeInterval?
    /// The collect point's own files, read in place by rsync (nothing is copied first); nil when the tree must
    /// be written out first (a backup point filter, an archive collect point).
    let directory: TreeDirectory?
    let recorder: BackupRecorder

    var isWebDAV: Bool { url.hasPrefix("http://") || url.hasPrefix("https://") }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let tree = try TreeAssembler.assemble(context)
            let treeArtifact = try context.store.put(tree)
            let options = try transport.options(context.secrets)
            if isWebDAV {
                try webdav(tree, options: options, context: context)
                try Transports.make(url, options: options).write(tree.encoded(), to: Self.join(url, SynchronizeBackupPoint.manifest),
                                                                 cancellation: context.cancellation)
            } else {
                let local: String
                var exclude: [String] = []
                if let directory {
                    local = directory.path
                    exclude = directory.exclude
                } else {
                    local = try materialized(tree, context: context)
                    exclude = [TreeMaterializer.ownerMark]
                }
                let manifest = try SecretFile(name: SynchronizeBackupPoint.manifest, content: String(decoding: tree.encoded(), as: UTF8.self))
                defer { manifest.remove() }
                try rsync(from: local, exclude: exclude, manifest: manifest.path, cancellation: context.cancellation)
            }
            try recorder.record(url, digest: treeArtifact.digest, size: tree.totalSize, options: options, context: context)
            return [Artifact(kind: .remote, digest: treeArtifact.digest, size: tree.totalSize, location: url)]
        }
    }

    static func join(_ url: String, _ name: String) -> String { (url.hasSuffix("/") ? url : url + "/") + name }

    /// The tree as files in the stage's state directory (unchanged files stay put between runs).
    func materialized(_ tree: Tree, context: StageContext) throws -> String {
        let path = context.stateDirectory.appendingPathComponent("synchronize").appendingPathComponent(context.node.id.path.joined(separator: "_")).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try TreeMaterializer.materialize(tree, at: path, store: context.store, cancellation: context.cancellation, progress: context.progress)
        return path
    }

    /// rsync to a folder (`file://` or a path) or over ssh, host key checked; the manifest goes last.
    func rsync(from local: String, exclude: [String], manifest: String, cancellation: CancellationFlag) throws {
        let rsync = try ExternalTool.locate(["rsync"], package: "rsync")
        // --checksum: a file rewritten with the same size within the same second still differs.
        var arguments = ["-a", "--checksum"] + exclude.map { "--exclude=/" + $0 } + ["--exclude=/" + SynchronizeBackupPoint.manifest]
        if delete { arguments.append("--delete") }
        if geteuid() == 0 { arguments.append("--numeric-ids") }
        if url.lowercased().hasPrefix("ssh://") {
            let (target, path) = try SSHOptions.parse(url)
            let command = SSHOptions(target, settings: ssh)
            let remote = path.hasSuffix("/") ? path : path + "/"
            try command.withCommand(cancellation: cancellation) { line in
                // The remote directory is created first (rsync creates only the last level).
                let rsyncPath = "--rsync-path=mkdir -p '\(path.replacingOccurrences(of: "'", with: "'\\''"))' && rsync"
                try rsync.run(arguments + ["-e", line, rsyncPath, "--", local + "/", command.destination + ":" + remote],
                              timeout: timeout, cancellation: cancellation)
                try rsync.run(["-a", "-e", line, "--", manifest, command.destination + ":" + remote + SynchronizeBackupPoint.manifest],
                              timeout: timeout, cancellation: cancellation)
            }
        } else {
            let path = FileTransport.path(url)
            let remote = path.hasSuffix("/") ? path : path + "/"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try rsync.run(arguments + ["--", local + "/", remote], timeout: timeout, cancellation: cancellation)
            try rsync.run(["-a", "--", manifest, remote + SynchronizeBackupPoint.manifest], timeout: timeout, cancellation: cancellation)
        }
    }

    /// Only what changed since the remote manifest (or everything, the first time) goes up; what left is deleted.
    func webdav(_ tree: Tree, options: TransportOptions, context: StageContext) throws {
        let transport = try Transports.make(url, options: options)
        let previous = (try? transport.read(Self.join(url, SynchronizeBackupPoint.manifest), cancellation: context.cancellation))
            .flatMap { $0 }.flatMap { try? Tree.decode($0) }
        let before = Dictionary((previous?.files ?? []).map { ($0.path, $0.digest) }, uniquingKeysWith: { first, _ in first })
        var sent: Int64 = 0
        for entry in tree.files {
            guard let digest = entry.digest, before[entry.path] != digest else { continue }
            // Checked against its digest on the way out (read again only when this run has not verified it yet).
            try context.store.ensureVerified(entry)
            try transport.upload(entry.source ?? context.store.path(of: digest), to: Self.join(url, Self.percentEncoded(entry.path)),
                                 identity: digest.hex, cancellation: context.cancellation)
            sent += entry.size
            context.progress(sent)
        }
        if delete {
            let current = Set(tree.files.map(\.path))
            for path in before.keys where !current.contains(path) {
                try transport.delete(Self.join(url, Self.percentEncoded(path)), cancellation: context.cancellation)
            }
        }
    }

    static func percentEncoded(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#;")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }
}
