import Foundation
import Pipeline

/// `restic` backup point: init when missing, backup of the collect point (relative paths, this host,
/// tagged with the collect point), forget --prune by `keep:` (only this collect point's snapshots of
/// this host), check. The repository and its password reach restic through its environment (a temporary
/// RESTIC_PASSWORD_FILE), never its command line.
struct ResticBackupPoint: BackupPointEngine {
    static let spec = EngineSpec("restic", .backupPoint, "A restic repository: init when missing, backup, forget --prune by keep:, check.",
                                 parameters: [
        ParameterSpec("repository", .string, required: true, "Any restic repository: a path, sftp:…, s3:…, rest:…"),
        ParameterSpec("password", .secret, "Repository password, given to restic through RESTIC_PASSWORD_FILE."),
        ParameterSpec("password_file", .path, "File whose first line is the repository password."),
        ParameterSpec("keep", .retention, "Retention applied with forget --prune after each backup."),
        ParameterSpec("snapshot_tags", .list, "Tags given to every snapshot."),
        ParameterSpec("environment", .map, "Extra environment for restic (AWS_ACCESS_KEY_ID, …); values may be secrets."),
        ParameterSpec("check", .bool, default: "true", "Run restic check after forget."),
        ParameterSpec("delete", .choice(["always", "never"]), default: "always",
                      "never: this host only adds (an append-only repository); forget is run with --dry-run and reported, and "
                      + "applied by `polyarchiv prune` where deleting is allowed."),
        ParameterSpec("read_data_subset", .string, default: "5%",
                      "What `verify` reads back of the repository's data with restic check --read-data-subset (5%, 1/10, 500M, or 100% for all)."),
    ], exclusive: [["password", "password_file"]], oneOf: [["password", "password_file"]])

    let work: ResticBackup
    let readDataSubset: String

    init(_ parameters: EngineParameters, pair: Pair) throws {
        readDataSubset = parameters.string("read_data_subset") ?? "5%"
        guard readDataSubset.range(of: #"^([0-9]+(\.[0-9]+)?%|[0-9]+/[0-9]+|[0-9]+[KMGT]?)$"#, options: .regularExpression) != nil else {
            throw ConfigurationError("`read_data_subset` `\(readDataSubset)` must be a percentage (5%), a part (1/10) or a size (500M)",
                                     parameter: "read_data_subset")
        }
        guard let password = parameters.secret("password") else {
            throw ConfigurationError("restic needs password or password_file", parameter: "password")
        }
        work = ResticBackup(restic: Restic(repository: try parameters.required("repository"), password: password,
                                           environment: parameters.map("environment"),
                                           timeout: parameters.seconds("timeout").map(TimeInterval.init)),
                            collectPoint: pair.collectPoint, host: pair.host, policy: parameters.retention(),
                            deletes: parameters.string("delete") != "never",
                            tags: parameters.list("snapshot_tags"), check: parameters.bool("check") ?? true,
                            directory: pair.filters.isEmpty ? pair.collect.treeDirectory : nil,
                            recorder: BackupRecorder(pair, metadataURL: pair.metadataURL))
    }

    var shape: BackupShape {
        var parameters = Parameters()
        parameters["repository"] = .string(Redaction.maskingURLSecrets(work.restic.repository))
        if let policy = work.policy { parameters["keep"] = .string(policy.description) }
        parameters["snapshot_tags"] = .list(work.tags)
        parameters["check"] = .bool(work.check)
        if let metadata = work.recorder.metadataURL { parameters["metadata_url"] = .string(metadata) }
        return BackupShape(upload: PlannedStage(work: work, parameters: parameters,
                                                summary: "restic → \(Redaction.maskingURLSecrets(work.restic.repository))",
                                                // One stage at a time per repository: two first runs would each
                                                // `restic init` it (two keys, a damaged config).
                                                resourceKeys: TransportParameters.hostKey(work.restic.repository)
                                                    + ["restic:" + Redaction.maskingURLSecrets(work.restic.repository)]),
                           places: work.recorder.metadataURL.map { [$0] } ?? [], metadataURL: work.recorder.metadataURL)
    }

    /// `polyarchiv prune`: forget --prune of `host`'s snapshots of this collect point, by `keep:`.
    func prune(host: String, dryRun: Bool, journal: Journal?, _ context: RestoreContext) throws -> [String]? {
        guard let policy = work.policy else { return nil }
        let removed = try work.restic.withEnvironment(context.secrets) {
            try work.restic.forget(policy, collectPoint: work.collectPoint, host: host, dryRun: dryRun, $0, cancellation: context.cancellation)
        }
        return removed.map { (dryRun ? "would forget snapshot " : "forgot snapshot ") + $0 }
    }

    /// This collect point's snapshots, each with its host (list and restore choose the host).
    func catalog(_ context: RestoreContext) throws -> Catalog {
        let snapshots = try work.restic.withEnvironment(context.secrets) {
            try work.restic.snapshots(of: work.collectPoint, host: nil, $0, cancellation: context.cancellation)
        }
        return Catalog(place: Redaction.maskingURLSecrets(work.restic.repository),
                       entries: snapshots.map { CatalogEntry(location: "restic:" + $0.id, digest: nil, size: nil, created: $0.time, host: $0.hostname) })
    }

    /// Where restic put the tree: a backup of `.` restores at the top, one of an absolute path under that
    /// path. The path comes from the repository: it may only choose a directory inside the scratch one, reached
    /// without a link (a snapshot holding `srv -> /` with the path `/srv/etc` would otherwise choose /etc).
    static func restoredRoot(scratch: String, snapshotPath path: String) -> String {
        let candidate = (scratch + "/" + path as NSString).standardizingPath
        guard candidate.hasPrefix(scratch + "/"),
              Beneath.kind(of: String(candidate.dropFirst(scratch.count + 1)), in: scratch) == S_IFDIR else { return scratch }
        return candidate
    }

    /// `restic ls --json`: the snapshot's tree from restic's metadata, without reading its data.
    func storedTree(_ backup: CatalogEntry, _ context: RestoreContext) throws -> Tree? {
        let id = String(backup.location.dropFirst("restic:".count))
        let output = try work.restic.withEnvironment(context.secrets) { environment in
            try work.restic.run(["ls", "--json", "--", id], environment, cancellation: context.cancellation)
        }
        struct Node: Decodable {
            let type: String
            let path: String
            let size: Int64?
            let mode: UInt32?
            let mtime: Date?
            let struct_type: String?
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            return Restic.parseTime(text) ?? Date(timeIntervalSince1970: 0)
        }
        var entries: [Tree.Entry] = []
        for line in output.split(separator: "\n") {
            guard let node = try? decoder.decode(Node.self, from: Data(line.utf8)), node.struct_type == "node" else { continue }
            let path = node.path.split(separator: "/").joined(separator: "/")
            guard !path.isEmpty else { continue }
            let kind: Tree.Entry.Kind = node.type == "dir" ? .directory : (node.type == "symlink" ? .symlink : .file)
            entries.append(Tree.Entry(kind: kind, path: path, mode: (node.mode ?? 0o644) & 0o7777, size: kind == .file ? node.size ?? 0 : 0,
                                      mtime: Int64((node.mtime?.timeIntervalSince1970 ?? 0) * 1_000_000_000)))
        }
        return Tree(entries: entries)
    }

    /// restic checks its own repository: its structure, and a part of the data read back and hashed.
    func verify(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Verification {
        try work.restic.withEnvironment(context.secrets) { environment in
            _ = try work.restic.run(["check", "--read-data-subset=\(readDataSubset)"], environment, cancellation: context.cancellation)
        }
        return Verification(lines: ["restic check --read-data-subset=\(readDataSubset) found no error"], fetched: nil)
    }

    func fetch(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Fetched {
        let id = String(backup.location.dropFirst("restic:".count))
        let scratch = context.scratch + "/restic-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try work.restic.withEnvironment(context.secrets) { environment in
            let snapshot = try work.restic.snapshots(of: work.collectPoint, host: backup.host, environment, cancellation: context.cancellation)
                .first { $0.id == id }
            guard let snapshot, let path = snapshot.paths.first else { throw StageFailure("restic snapshot \(id) is gone") }
            _ = try work.restic.run(["restore", "--target", scratch, "--", id], environment, cancellation: context.cancellation)
            let restored = Self.restoredRoot(scratch: scratch, snapshotPath: path)
            try DirectoryWalk.moveContents(of: restored, into: directory)
        }
        return .tree(directory)
    }
}

/// The restic backup stage: init, backup, forget, check.
struct ResticBackup: StageWork {
    let version = "2"
    let alwaysRuns = false
    let restic: Restic
    let collectPoint: String
    let host: String
    let policy: RetentionPolicy?
    /// `delete: never`: forget only reports (an append-only repository).
    let deletes: Bool
    let tags: [String]
    let check: Bool
    /// The collect point's own files, which restic reads in place; nil when the tree must be written out first.
    let directory: TreeDirectory?
    let recorder: BackupRecorder

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let tree = try TreeAssembler.assemble(context)
            let data: String
            var exclude: [String] = []
            if let directory {
                data = directory.path
                exclude = directory.exclude
            } else {
                // restic reads a directory: the tree, kept in the stage's state directory (unchanged files stay put).
                data = context.stateDirectory.appendingPathComponent("restic").appendingPathComponent(context.node.id.path.joined(separator: "_")).path
                try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                try TreeMaterializer.materialize(tree, at: data, store: context.store, cancellation: context.cancellation, progress: context.progress)
                exclude = [TreeMaterializer.ownerMark]
            }
            let snapshot: String = try restic.withEnvironment(context.secrets) { environment in
                let before = BackupRecords(context.journal).backups(backupPoint: recorder.backupPoint, collectPoint: collectPoint)
                try restic.ensureRepository(environment, mayCreate: before.isEmpty, cancellation: context.cancellation)
                var arguments = ["backup", "--json", "--host", host, "--tag", Restic.tag(collectPoint)]
                for name in exclude { arguments += ["--exclude", "/" + name] }
                for tag in tags { arguments += ["--tag", tag] }
                let output = try restic.run(arguments + ["."], environment, directory: data, cancellation: context.cancellation)
                let summary = output.split(separator: "\n").last { $0.contains("\"summary\"") }
                guard let summary, let object = try? JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any],
                      let id = object["snapshot_id"] as? String else {
                    throw StageFailure("restic backup printed no snapshot id", stderr: String(output.suffix(2000)))
                }
                if let policy, deletes {
                    _ = try restic.forget(policy, collectPoint: collectPoint, host: host, dryRun: false, environment,
                                          cancellation: context.cancellation)
                } else if let policy {
                    let due = try restic.forget(policy, collectPoint: collectPoint, host: host, dryRun: true, environment,
                                                cancellation: context.cancellation)
                    if !due.isEmpty {
                        context.warn("delete: never: retention would forget \(due.count) snapshot(s), left for `polyarchiv prune` where "
                                     + "deleting is allowed: " + due.joined(separator: ", "))
                    }
                }
                if check { _ = try restic.run(["check"], environment, cancellation: context.cancellation) }
                return id
            }
            let digest = try context.store.put(tree).digest
            let location = "restic:" + snapshot
            try recorder.record(location, digest: digest, size: tree.totalSize, options: TransportOptions(), context: context)
            try trimMetadata(context)
            return [Artifact(kind: .remote, digest: digest, size: tree.totalSize, location: location)]
        }
    }
}

extension ResticBackup {
    /// A metadata document lists only the snapshots forget kept.
    func trimMetadata(_ context: StageContext) throws {
        guard let metadata = recorder.metadataURL,
              var document = try BackupMetadata.read(metadata, options: TransportOptions(), cancellation: context.cancellation) else { return }
        let existing = try restic.withEnvironment(context.secrets) {
            try restic.snapshots(of: collectPoint, host: host, $0, cancellation: context.cancellation)
        }
        // `backup --json` gives the short id, `snapshots` the full one.
        func kept(_ location: String) -> Bool { existing.contains { ("restic:" + $0.id).hasPrefix(location) } }
        guard document.backups.contains(where: { !kept($0.location) }) else { return }
        document.backups.removeAll { !kept($0.location) }
        try BackupMetadata.write(document, to: metadata, options: TransportOptions(), cancellation: context.cancellation)
    }
}

/// restic through its program: the repository (RESTIC_REPOSITORY) and its password (a temporary
/// RESTIC_PASSWORD_FILE) reach restic through its environment, never its command line.
struct Restic: Sendable {
    let repository: String
    let password: Secret
    let environment: [(String, EngineParameters.MapValue)]
    let timeout: TimeInterval?

    /// Each collect point's snapshots carry this tag: forget and restore only ever touch their own.
    static func tag(_ collectPoint: String) -> String { "polyarchiv:" + collectPoint }

    func withEnvironment<T>(_ secrets: Secrets, _ body: ([String: String]) throws -> T) throws -> T {
        let file = try SecretFile(name: "restic-password", content: try secrets.reveal(password))
        defer { file.remove() }
        var variables = ["RESTIC_REPOSITORY": repository, "RESTIC_PASSWORD_FILE": file.path]
        for (name, value) in environment {
            switch value {
            case .secret(let secret): variables[name] = try secrets.reveal(secret)
            case .text(let text): variables[name] = text
            }
        }
        return try body(variables)
    }

    /// `forget` (with `--prune`, or `--dry-run`) of this collect point's snapshots by `host`: the ids it removes.
    func forget(_ policy: RetentionPolicy, collectPoint: String, host: String, dryRun: Bool, _ environment: [String: String],
                cancellation: CancellationFlag) throws -> [String] {
        let output = try run(["forget", "--json", dryRun ? "--dry-run" : "--prune", "--tag", Restic.tag(collectPoint), "--host", host]
                             + Restic.keepFlags(policy), environment, cancellation: cancellation)
        // One JSON array (a group per host and tags), each with the snapshots it removes.
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("[") }),
              let groups = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [[String: Any]] else { return [] }
        return groups.flatMap { ($0["remove"] as? [[String: Any]] ?? []).compactMap { $0["short_id"] as? String ?? $0["id"] as? String } }
    }

    func run(_ arguments: [String], _ environment: [String: String], directory: String? = nil, cancellation: CancellationFlag) throws -> String {
        try ExternalTool.locate(["restic"], package: "restic")
            .output(arguments, environment: environment, directory: directory, timeout: timeout ?? 6 * 3600, cancellation: cancellation)
    }

    /// `restic init` when the repository does not exist yet — unless it held our backups before (an
    /// unmounted disk must not get a fresh, empty repository); any other failure to open it stops.
    func ensureRepository(_ environment: [String: String], mayCreate: Bool, cancellation: CancellationFlag) throws {
        do {
            _ = try run(["cat", "config"], environment, cancellation: cancellation)
        } catch let failure as StageFailure {
            let stderr = failure.stderr ?? ""
            guard stderr.contains("does not exist") || stderr.contains("Is there a repository") else { throw failure }
            guard mayCreate else {
                throw StageFailure("the restic repository is gone although it holds earlier backups (an unmounted disk?); "
                                   + "not creating a new one: check it, or run `restic init` yourself", stderr: stderr)
            }
            _ = try run(["init"], environment, cancellation: cancellation)
        }
    }

    struct Snapshot: Decodable {
        let id: String
        let time: Date
        let paths: [String]
        let hostname: String?
        let tags: [String]?
    }

    /// The snapshots of one collect point made by `host` (by any host when nil).
    func snapshots(of collectPoint: String, host: String?, _ environment: [String: String], cancellation: CancellationFlag) throws -> [Snapshot] {
        let json = try run(["snapshots", "--json", "--tag", Self.tag(collectPoint)] + (host.map { ["--host", $0] } ?? []), environment,
                           cancellation: cancellation)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = Self.parseTime(text) else { throw StageFailure("restic printed an odd time \(text)") }
            return date
        }
        return try decoder.decode([Snapshot].self, from: Data(json.utf8))
    }

    /// restic's RFC 3339 times, with or without fractional seconds.
    static func parseTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// `--keep-*` flags for forget, from `keep:` (restic writes months as `m` in durations).
    static func keepFlags(_ policy: RetentionPolicy) -> [String] {
        var flags = policy.counts.filter { $0.1 != 0 }.map { "--keep-\($0.0)=\($0.1)" }
        for key in RetentionPolicy.spanKeys {
            guard let span = policy.spans[key] else { continue }
            let days = span.weeks * 7 + span.days
            let text = [(span.years, "y"), (span.months, "m"), (days, "d"), (span.hours, "h")].filter { $0.0 > 0 }
                .map { "\($0.0)\($0.1)" }.joined()
            flags.append("--keep-\(key.replacingOccurrences(of: "_", with: "-"))=" + (text.isEmpty ? "0h" : text))
        }
        return flags
    }
}
