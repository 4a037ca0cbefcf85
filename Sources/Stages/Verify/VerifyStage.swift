import Foundation
import Pipeline

/// `verify:BP/CP`: the newest backup this host made of the collect point, checked where it is stored —
/// downloaded and matched against its recorded SHA-256 (or the engine's own check: git fsck of a clone,
/// restic check), then opened as a restore would (every filter that can be undone here) so the hashes
/// index is checked against the files. Nothing is written outside a private scratch directory, removed
/// after; what was checked is kept in the journal (`verify` namespace) for `check`.
public struct VerifyStage: StageWork {
    public let version = "1"
    public let alwaysRuns = true
    let engine: any BackupPointEngine
    let host: String
    /// How the fetched backup is opened (its filters undone) for the checks of its content.
    let opener: BackupOpener
    /// `verify_drill`: the database sources whose dumps are restored into a scratch database.
    let drills: [Drill]

    public struct Drill: Sendable {
        public let source: String
        public let engine: any SourceEngine
        /// Where its dump lies in the collect point.
        public let destination: String

        public init(source: String, engine: any SourceEngine, destination: String) {
            self.source = source
            self.engine = engine
            self.destination = destination
        }
    }

    public init(engine: any BackupPointEngine, host: String, opener: BackupOpener, drills: [Drill] = []) {
        self.engine = engine
        self.host = host
        self.opener = opener
        self.drills = drills
    }

    /// What the journal keeps of the last verification of a pair.
    public struct Record: Codable, Sendable {
        public let backup: String
        public let created: Date
        public let checks: [String]
    }

    public static let namespace = "verify"

    public func run(_ context: StageContext) async throws -> [Artifact] {
        let checked = Checked()
        do {
            let artifacts = try await verify(context, checked)
            try? context.table(VerifyFailure.namespace).remove(context.node.id.description)
            return artifacts
        } catch let error where !(error is CancellationFlag.Cancelled) {
            // The next apply uploads this backup again (and verifies it), whatever its cache says.
            let failure = VerifyFailure(backup: checked.location ?? "the newest backup", found: Date(),
                                        reason: "\(error)".split(separator: "\n").first.map(String.init) ?? "")
            try? context.table(VerifyFailure.namespace).encode(failure, context.node.id.description)
            throw error
        }
    }

    /// Which backup is being checked, for the record of a failure.
    private final class Checked: @unchecked Sendable {
        var location: String?
    }

    private func verify(_ context: StageContext, _ checked: Checked) async throws -> [Artifact] {
        try await context.blocking { [self] in
            // On the state directory's disk (sized for the store), not /tmp (often a small tmpfs): the backup comes whole.
            let scratch = try Self.scratchDirectory(in: context.stateDirectory.path)
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let restore = RestoreContext(secrets: context.secrets, cancellation: context.cancellation, identityFile: nil,
                                         scratch: scratch + "/work", progress: { context.progress($0) }, warn: { context.warn($0) })
            try FileManager.default.createDirectory(atPath: restore.scratch, withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
            let catalog = try engine.catalog(restore)
            let mine = catalog.entries.filter { $0.host == nil || $0.host == host }
            guard let newest = mine.max(by: { $0.created < $1.created }) else {
                throw StageFailure("nothing to verify: \(catalog.place) holds no backup by \(host)")
            }
            checked.location = Redaction.maskingURLSecrets(newest.location)
            if let size = newest.size { context.expect(total: size) }
            let fetchedDirectory = scratch + "/fetched"
            try FileManager.default.createDirectory(atPath: fetchedDirectory, withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
            let verification = try engine.verify(newest, into: fetchedDirectory, restore)
            var checks = verification.lines
            if let fetched = verification.fetched {
                let opened = try opener.open(fetched, in: scratch, restore)
                checks += opened.lines.isEmpty ? ["opened whole (no hashes index to check it against)"] : opened.lines
                if let directory = opened.directory { checks += try drill(directory, newest, restore) }
            } else if !drills.isEmpty {
                checks.append("no restore drill: this backup point is checked where it is stored, not fetched")
            }
            let record = Record(backup: Redaction.maskingURLSecrets(newest.location), created: newest.created, checks: checks)
            try context.table(Self.namespace).encode(record, context.node.id.description)
            return []
        }
    }

    /// Each database dump restored into a scratch database and its rows compared with the dump-time counts.
    private func drill(_ tree: String, _ backup: CatalogEntry, _ context: RestoreContext) throws -> [String] {
        var lines: [String] = []
        for drill in drills {
            let path = drill.destination.hasSuffix("/") ? String(drill.destination.dropLast()) : drill.destination
            guard FileManager.default.fileExists(atPath: tree + "/" + path) else {
                throw StageFailure("restore drill of \(drill.source): the backup holds no \(path)")
            }
            guard let restored = try drill.engine.drill(tree + "/" + path, context) else { continue }
            guard let recorded = backup.rows?[path] else {
                lines.append("restore drill of \(drill.source): restored into a scratch database, \(restored.count) table(s); "
                             + "no row counts were recorded when it was dumped")
                continue
            }
            for table in Set(recorded.keys).union(restored.keys).sorted() where recorded[table] != restored[table] {
                throw StageFailure("restore drill of \(drill.source): table \(table) has \(restored[table].map(String.init) ?? "no") rows "
                                   + "once restored, \(recorded[table].map(String.init) ?? "no") when it was dumped")
            }
            lines.append("restore drill of \(drill.source): restored into a scratch database, \(restored.count) table(s), "
                         + "\(restored.values.reduce(0, +)) rows, as many as when it was dumped")
        }
        return lines
    }

    /// What a verification killed in its middle left behind (called under the state lock, before a run).
    public static func removeLeftovers(in parent: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix("verify-") {
            try? FileManager.default.removeItem(atPath: parent + "/" + name)
        }
    }

    static func scratchDirectory(in parent: String) throws -> String {
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return try ScratchDirectory("verify", in: parent).path
    }
}
