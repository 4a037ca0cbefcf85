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
    /// Marks a mirror directory polyarchiv made (written in a new or empty one, before the first file).
    static let mark = ".polyarchiv-mirror"

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
        var shape = BackupShape(upload: PlannedStage(work: mirror, parameters: parameters,
                                                     summary: "synchronize → \(Redaction.maskingURLSecrets(mirror.url))",
                                                     resourceKeys: TransportParameters.hostKey(mirror.url)),
                                places: [mirror.url] + (mirror.recorder.metadataURL.map { [$0] } ?? []), metadataURL: mirror.recorder.metadataURL)
        shape.directories = [mirror.url]
        return shape
    }

    func catalog(_ context: RestoreContext) throws -> Catalog {
        guard let tree = try mirror.manifest(context.secrets, cancellation: context.cancellation) else {
            return Catalog(place: Redaction.maskingURLSecrets(mirror.url), entries: [])
        }
        let newest = tree.entries.map(\.mtime).max() ?? 0
        // The mirror is its maker's: another host's `check --from-backup-points --host` must not count it.
        let host = (try? mirror.markedHost(context.secrets, cancellation: context.cancellation)) ?? nil
        return Catalog(place: Redaction.maskingURLSecrets(mirror.url), entries: [
            CatalogEntry(location: mirror.url, digest: nil, size: tree.totalSize, created: Date(timeIntervalSince1970: Double(newest) / 1e9),
                         host: host),
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
                // What this host sent: the only paths a later run may delete (not the remote manifest's word alone).
                try context.table("synchronize.sent").set("tree", scope: context.node.id.description, Data(treeArtifact.digest.hex.utf8),
                                                          keeps: [treeArtifact.digest])
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
        // -H hard links, -S sparse files, -A ACLs, -X extended attributes: the mirror holds what the collect point holds.
        var arguments = ["-aHSAX", "--checksum"] + exclude.map { "--exclude=/" + $0 }
            + ["--exclude=/" + SynchronizeBackupPoint.manifest, "--exclude=/" + SynchronizeBackupPoint.mark]
        if delete { arguments.append("--delete") }
        if geteuid() == 0 { arguments.append("--numeric-ids") }
        if url.lowercased().hasPrefix("ssh://") {
            let (target, path) = try SSHOptions.parse(url)
            let command = SSHOptions(target, settings: ssh)
            let remote = path.hasSuffix("/") ? path : path + "/"
            try command.withCommand(cancellation: cancellation) { line in
                let rsyncPath = "--rsync-path=" + Self.remoteClaim(path, owner: owner)
                try rsync.run(arguments + ["-e", line, rsyncPath, "--", local + "/", command.destination + ":" + remote],
                              timeout: timeout, cancellation: cancellation)
                try rsync.run(["-a", "-e", line, "--", manifest, command.destination + ":" + remote + SynchronizeBackupPoint.manifest],
                              timeout: timeout, cancellation: cancellation)
            }
        } else {
            let path = FileTransport.path(url)
            let remote = path.hasSuffix("/") ? path : path + "/"
            let mode = try Self.claim(path, owner: owner)
            // rsync gives the mirror's root the collect point's mode (0700): the folder keeps its own.
            defer { if let mode { chmod(path, mode) } }
            try rsync.run(arguments + ["--", local + "/", remote], timeout: timeout, cancellation: cancellation)
            try rsync.run(["-a", "--", manifest, remote + SynchronizeBackupPoint.manifest], timeout: timeout, cancellation: cancellation)
        }
    }

    /// A mirror is made only in a directory polyarchiv made (its mark or manifest is there) or a new or empty
    /// one (it gets the mark): `--delete` would remove anything else. Returns the mode of a directory that
    /// was there (to keep), nil for one it created.
    /// Whose mirror it is, the mark's content: hosts sharing a configuration must not mirror over each other.
    var owner: String { "polyarchiv mirror of \(recorder.host): \(recorder.backupPoint) <- \(recorder.collectPoint)" }

    static func foreignOwner(_ path: String) -> String {
        "\(path) is another host's (or collect point's) mirror; give each its own `url` (with {hostname}) (nothing was changed)"
    }

    static func claim(_ path: String, owner: String) throws -> mode_t? {
        let fileManager = FileManager.default
        var info = stat()
        let existed = stat(path, &info) == 0
        if existed {
            let ours = [SynchronizeBackupPoint.mark, SynchronizeBackupPoint.manifest].contains { fileManager.fileExists(atPath: path + "/" + $0) }
            if !ours, let names = try? fileManager.contentsOfDirectory(atPath: path), !names.isEmpty {
                throw StageFailure("\(path) holds files polyarchiv did not put there; synchronize makes it an exact mirror of the collect "
                                   + "point (deleting the rest), so point `url` at a new or empty directory (nothing was changed)")
            }
        } else {
            try fileManager.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        if let mark = fileManager.contents(atPath: path + "/" + SynchronizeBackupPoint.mark) {
            guard String(decoding: mark, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == owner else {
                throw StageFailure(foreignOwner(path))
            }
        } else {
            guard fileManager.createFile(atPath: path + "/" + SynchronizeBackupPoint.mark, contents: Data((owner + "\n").utf8)) else {
                throw StageFailure("cannot mark \(path) as a polyarchiv mirror: \(FileIO.lastError)")
            }
        }
        return existed ? info.st_mode & 0o7777 : nil
    }

    /// The same rule on the far side of ssh, as the command rsync runs there: refuse a directory with other
    /// files, mark it, run rsync, and give the directory its mode back.
    static func remoteClaim(_ path: String, owner: String) -> String {
        func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let quoted = quote(path)
        let refusal = "polyarchiv: \(path) holds files polyarchiv did not put there; synchronize makes it an exact mirror (deleting the "
            + "rest), so point url at a new or empty directory (nothing was changed)"
        return "polyarchiv_mirror() { P=\(quoted); "
            + "if [ ! -e \"$P/\(SynchronizeBackupPoint.mark)\" ] && [ ! -e \"$P/\(SynchronizeBackupPoint.manifest)\" ] "
            + "&& [ -n \"$(ls -A \"$P\" 2>/dev/null)\" ]; then echo '\(refusal.replacingOccurrences(of: "'", with: ""))' >&2; exit 3; fi; "
            + "O=\(quote(owner)); if [ -e \"$P/\(SynchronizeBackupPoint.mark)\" ] && [ \"$(cat \"$P/\(SynchronizeBackupPoint.mark)\")\" != \"$O\" ]; then "
            + "echo \(quote("polyarchiv: " + foreignOwner(path).replacingOccurrences(of: "`", with: ""))) >&2; exit 3; fi; "
            + "if [ -d \"$P\" ]; then M=$(stat -c %a \"$P\"); else M=700; fi; "
            + "mkdir -p \"$P\" && { [ -e \"$P/\(SynchronizeBackupPoint.mark)\" ] || printf '%s\\n' \"$O\" > \"$P/\(SynchronizeBackupPoint.mark)\"; } "
            + "&& rsync \"$@\"; R=$?; chmod \"$M\" \"$P\"; return $R; }; polyarchiv_mirror"
    }

    /// Only what changed since the remote manifest (or everything, the first time) goes up; what left is deleted.
    func webdav(_ tree: Tree, options: TransportOptions, context: StageContext) throws {
        let transport = try Transports.make(url, options: options)
        let previous = (try? transport.read(Self.join(url, SynchronizeBackupPoint.manifest), cancellation: context.cancellation))
            .flatMap { $0 }.flatMap { try? Tree.decode($0) }
        let before = Dictionary((previous?.files ?? []).map { ($0.path, $0.digest) }, uniquingKeysWith: { first, _ in first })
        var sent: Int64 = 0
        context.expect(total: tree.files.filter { $0.digest != nil && before[$0.path] != $0.digest }.reduce(0) { $0 + $1.size })
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
            // Deleted: what the remote manifest lists, this host sent last time, and this tree no longer holds.
            let current = Set(tree.files.map(\.path))
            let sent = (try? context.table("synchronize.sent").value("tree", scope: context.node.id.description))
                .flatMap { $0 }.flatMap { Digest(hex: String(decoding: $0, as: UTF8.self)) }
                .flatMap { try? context.store.tree($0) }.map { Set($0.files.map(\.path)) } ?? []
            for path in before.keys where !current.contains(path) && sent.contains(path) {
                try transport.delete(Self.join(url, Self.percentEncoded(path)), cancellation: context.cancellation)
            }
        }
    }

    /// A tree path in a URL: each byte it stands for (see `FileName`) that is not plainly allowed, as `%XX`.
    static func percentEncoded(_ path: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,=:@/".utf8)
        var result = ""
        for byte in FileName.bytes(path) {
            if allowed.contains(byte) { result.unicodeScalars.append(Unicode.Scalar(byte)) } else { result += String(format: "%%%02X", byte) }
        }
        return result
    }
}
