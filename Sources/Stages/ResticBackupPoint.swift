import Foundation
import Pipeline

/// restic through its program: the repository (RESTIC_REPOSITORY) and its password (a temporary
/// RESTIC_PASSWORD_FILE) reach restic through its environment, never its command line.
struct Restic {
    let tool: ExternalTool
    let parameters: Parameters

    init(_ parameters: Parameters) throws {
        tool = try ExternalTool.locate(["restic"], package: "restic")
        self.parameters = parameters
    }

    /// Each collect point's snapshots carry this tag: forget and restore only ever touch their own.
    static func tag(_ collectPoint: String) -> String { "polyarchiv:" + collectPoint }

    func withEnvironment<T>(_ body: ([String: String]) throws -> T) throws -> T {
        guard let repository = parameters.string("repository") else { throw StageFailure("restic backup point without a repository") }
        guard let password = try parameters.secretValue("password") else { throw StageFailure("restic needs password or password_file") }
        let file = try SecretFile(name: "restic-password", content: password)
        defer { file.remove() }
        var environment = ["RESTIC_REPOSITORY": repository, "RESTIC_PASSWORD_FILE": file.path]
        if case .map(let extra)? = parameters["environment"] {
            for (name, value) in extra {
                if case .secret(let secret) = value { environment[name] = try secret.reveal() } else { environment[name] = "\(value)" }
            }
        }
        return try body(environment)
    }

    func run(_ arguments: [String], _ environment: [String: String], directory: String? = nil, cancellation: CancellationFlag) throws -> String {
        try tool.output(arguments, environment: environment, directory: directory, timeout: parameters.timeout ?? 6 * 3600,
                        cancellation: cancellation)
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

    func snapshots(of collectPoint: String, _ environment: [String: String], cancellation: CancellationFlag) throws -> [Snapshot] {
        let json = try run(["snapshots", "--json", "--tag", Self.tag(collectPoint)], environment, cancellation: cancellation)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = formatter.date(from: text) { return date }
            formatter.formatOptions = [.withInternetDateTime]
            guard let date = formatter.date(from: text) else { throw StageFailure("restic printed an odd time \(text)") }
            return date
        }
        return try decoder.decode([Snapshot].self, from: Data(json.utf8))
    }

    /// `--keep-*` flags for forget, from `keep:`.
    static func keepFlags(_ value: ParameterValue?) -> [String] {
        guard case .map(let entries)? = value else { return [] }
        return entries.map { key, value in
            let text: String
            switch value {
            case .int(let number): text = String(number)
            case .string(let string): text = string
            default: text = "\(value)"
            }
            return "--keep-\(key)=\(text)"
        }
    }
}

/// `restic` backup point: init when missing, backup of the collect point (relative paths, host, tags),
/// forget --prune by `keep:`, check.
struct ResticBackupPoint: StageRunner {
    let version = "1"
    let alwaysRuns = false

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        guard let collectPoint = context.node.collectPoint else { throw StageFailure("restic backup point without a collect point") }
        return try await context.blocking {
            let tree = try TreeAssembler.assemble(context.inputs, store: context.store, journal: context.journal, date: context.date)
            // restic reads a directory: the collected tree, kept in the stage's state directory (unchanged files stay put).
            let data = context.stateDirectory.appendingPathComponent("restic")
                .appendingPathComponent(context.node.id.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ":", with: "_")).path
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try TreeMaterializer.materialize(tree, at: data, store: context.store, cancellation: context.cancellation, progress: context.progress)
            let restic = try Restic(parameters)
            let snapshot: String = try restic.withEnvironment { environment in
                let before = try context.journal.remoteBackups(backupPoint: context.node.backupPoint ?? "", collectPoint: collectPoint)
                try restic.ensureRepository(environment, mayCreate: before.isEmpty, cancellation: context.cancellation)
                var arguments = ["backup", "--json", "--host", ProcessInfo.processInfo.hostName, "--tag", Restic.tag(collectPoint),
                                 "--exclude", TreeMaterializer.ownerMark]
                if case .list(let tags)? = parameters["snapshot_tags"] { for tag in tags { arguments += ["--tag", tag] } }
                let output = try restic.run(arguments + ["."], environment, directory: data, cancellation: context.cancellation)
                let summary = output.split(separator: "\n").last { $0.contains("\"summary\"") }
                guard let summary, let object = try? JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any],
                      let id = object["snapshot_id"] as? String else {
                    throw StageFailure("restic backup printed no snapshot id", stderr: String(output.suffix(2000)))
                }
                let keep = Restic.keepFlags(context.node.parameters["keep"])
                if !keep.isEmpty {
                    _ = try restic.run(["forget", "--prune", "--tag", Restic.tag(collectPoint), "--host", ProcessInfo.processInfo.hostName]
                                       + keep, environment, cancellation: context.cancellation)
                }
                if parameters["check"] != .bool(false) { _ = try restic.run(["check"], environment, cancellation: context.cancellation) }
                return id
            }
            let digest = try context.store.put(tree).digest
            let location = "restic:" + snapshot
            try ArchiveUpload.record(location, digest: digest, size: tree.totalSize, context: context)
            // A metadata document lists only the snapshots forget kept.
            if let metadata = parameters.string("metadata_url"),
               var document = try BackupMetadata.read(metadata, parameters: parameters, cancellation: context.cancellation) {
                let existing = try restic.withEnvironment { try restic.snapshots(of: collectPoint, $0, cancellation: context.cancellation) }
                // `backup --json` gives the short id, `snapshots` the full one.
                func kept(_ location: String) -> Bool { existing.contains { ("restic:" + $0.id).hasPrefix(location) } }
                if document.backups.contains(where: { !kept($0.location) }) {
                    document.backups.removeAll { !kept($0.location) }
                    try BackupMetadata.write(document, to: metadata, parameters: parameters, cancellation: context.cancellation)
                }
            }
            return [Artifact(kind: .remote, digest: digest, size: tree.totalSize, location: location)]
        }
    }
}
