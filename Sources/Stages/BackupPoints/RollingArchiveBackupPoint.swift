import Foundation
import Pipeline

/// `rolling_archive` backup point: an archive per run, as `archive`, then retention: the backups of the
/// metadata document that no `keep:` rule keeps are dropped from it, then deleted.
struct RollingArchiveBackupPoint: BackupPointEngine {
    static let spec = EngineSpec("rolling_archive", .backupPoint, "An archive per run, old ones deleted by a retention policy (keep:).",
                                 parameters: ArchiveBackupPoint.parameters.map {
        $0.name == "same_name" ? ArchiveBackupPoint.sameNameParameter(default: .keepBoth) : $0
    } + [
        ParameterSpec("keep", .retention, required: true,
                      "Retention: last, hourly, daily, weekly, monthly, yearly (counts), within and within_hourly … within_yearly (durations such as 1y6mo)."),
        ParameterSpec("delete", .choice(["always", "never"]), default: "always",
                      "never: this host only adds (its credentials need not delete); retention is reported, and applied by "
                      + "`polyarchiv prune` run where deleting is allowed."),
    ], exclusive: TransportParameters.exclusive)

    let archive: ArchiveBackupPoint
    let policy: RetentionPolicy
    let deletes: Bool

    init(_ parameters: EngineParameters, pair: Pair) throws {
        guard let policy = parameters.retention() else { throw ConfigurationError("`keep` is required", parameter: "keep") }
        archive = try ArchiveBackupPoint(parameters, pair: pair, sameNameDefault: .keepBoth, policy: policy)
        self.policy = policy
        deletes = parameters.string("delete") != "never"
    }

    var shape: BackupShape {
        var shape = archive.shape
        var parameters = Parameters()
        parameters["keep"] = .string(policy.description)
        if !deletes { parameters["delete"] = .string("never") }
        shape.prune = PlannedStage(work: prune(for: archive.recorder, metadataURL: archive.metadataURL, deletes: deletes), parameters: parameters,
                                   summary: "keep \(policy.description)" + (deletes ? "" : " (delete: never: reported only)"),
                                   resourceKeys: archive.resourceKeys)
        return shape
    }

    func prune(for recorder: BackupRecorder, metadataURL: String, deletes: Bool) -> ArchivePrune {
        ArchivePrune(policy: policy, home: RemotePath.directory(of: archive.url), metadataURL: metadataURL, transport: archive.transport,
                     recorder: recorder, newBackup: archive.url, replacesSameName: archive.sameName == .replace, lock: archive.lock,
                     deletes: deletes)
    }

    /// `polyarchiv prune`: the retention of `host`'s backups applied now (whatever `delete:` says), with the
    /// journal's records when this is the host that made them, else only the names that carry `host`.
    func prune(host: String, dryRun: Bool, journal: Journal?, _ context: RestoreContext) throws -> [String]? {
        let metadataURL = archive.metadataDirectory.map {
            ArchiveBackupPoint.metadataURL(in: $0, "\(archive.recorder.backupPoint)-\(archive.recorder.collectPoint)", host: host)
        } ?? archive.metadataURL
        let recorder = archive.recorder.speaking(for: host, metadataURL: metadataURL)
        let recorded = Set((journal.map { BackupRecords($0).backups(backupPoint: recorder.backupPoint, collectPoint: recorder.collectPoint) } ?? [])
            .map(\.location))
        let removed = try prune(for: recorder, metadataURL: metadataURL, deletes: true)
            .execute(options: try archive.transport.options(context.secrets), recorded: host == archive.recorder.host ? recorded : [],
                     cancellation: context.cancellation, warn: context.warn, dryRun: dryRun)
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = .current
        return removed.map { "\(dryRun ? "would delete" : "deleted") \(formatter.string(from: $0.created)) \(Redaction.maskingURLSecrets($0.location))" }
    }

    func catalog(_ context: RestoreContext) throws -> Catalog { try archive.catalog(context) }

    func storedTree(_ backup: CatalogEntry, _ context: RestoreContext) throws -> Tree? { try archive.storedTree(backup, context) }

    func fetch(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Fetched {
        try archive.fetch(backup, into: directory, context)
    }

    func holds(_ backup: CatalogEntry, _ context: RestoreContext) throws -> Bool? { try archive.holds(backup, context) }

    func repair(_ context: RestoreContext, journal: Journal?) throws -> [String] { try archive.repair(context, journal: journal) }
}

/// Retention after the run's archive is uploaded and verified. The newest backup is never deleted, and
/// only what this host made where this backup point writes: a direct child of its directory that the
/// journal recorded or whose name carries this host's name (the document comes from the backup server and
/// is not trusted to say what to delete). The document is rewritten first: a file left behind is
/// harmless, a listed backup that is gone is not.
struct ArchivePrune: StageWork {
    let version = "2"
    /// Time passes between runs: `within` and the buckets change even when the archive does not.
    let alwaysRuns = true
    let policy: RetentionPolicy
    let home: String
    let metadataURL: String
    let transport: TransportSettings
    let recorder: BackupRecorder
    let newBackup: String
    /// Whether the run's backup replaces one already at `newBackup` (else it takes a name beside it).
    let replacesSameName: Bool
    /// Backups under Object Lock: kept until their lock ends, then every version deleted.
    let lock: ObjectLock?
    /// `delete: never`: the host only adds; retention is reported, and applied by `polyarchiv prune` elsewhere.
    let deletes: Bool

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let recorded = Set(BackupRecords(context.journal).backups(backupPoint: recorder.backupPoint, collectPoint: recorder.collectPoint)
                .map(\.location))
            let options = try transport.options(context.secrets)
            if deletes {
                _ = try execute(options: options, recorded: recorded, cancellation: context.cancellation, warn: { context.warn($0) })
            } else {
                let due = try execute(options: options, recorded: recorded, cancellation: context.cancellation, warn: { context.warn($0) },
                                      dryRun: true)
                if !due.isEmpty {
                    context.warn("delete: never: retention would delete \(due.count) backup(s), left for `polyarchiv prune` where deleting is "
                                 + "allowed: " + due.map { Redaction.maskingURLSecrets($0.location) }.joined(separator: ", "))
                }
            }
            return []
        }
    }

    /// Applies the policy to what the document lists of this recorder's host: the expired backups it may delete
    /// (see `mayDelete`) are dropped from the document, then deleted; returned either way. `dryRun` changes nothing.
    @discardableResult
    func execute(options: TransportOptions, recorded: Set<String>, cancellation: CancellationFlag, warn: (String) -> Void,
                 dryRun: Bool = false) throws -> [BackupMetadata.Backup] {
        var options = options
        options.s3DeleteVersions = lock != nil
        guard let document = try recorder.document(options: options, cancellation: cancellation) else { return [] }
        // Hosts sharing the backup point each keep their own history: the rules count this host's backups only.
        let decisions = Self.decide(policy, document.backups.filter { $0.host == recorder.host })
        let kept = decisions.filter(\.kept).map(\.item)
        var removed = decisions.filter { !$0.kept }.map(\.item).filter { gone in !kept.contains { $0.location == gone.location } }
        let ours = removed.filter { mayDelete($0.location, recorded: recorded) }
        for stranger in removed where !ours.contains(where: { $0.location == stranger.location }) {
            warn("expired backup \(Redaction.maskingURLSecrets(stranger.location)) was not made by "
                 + (recorder.host == HostName.short() ? "this host" : recorder.host) + " in this backup "
                 + "point's directory; not deleted (delete it by hand if it is yours)")
        }
        removed = ours
        guard !removed.isEmpty, !dryRun else { return removed }
        let gone = Set(removed.map(\.location))
        try BackupMetadata.update(metadataURL, options: options, cancellation: cancellation, first: document) { document in
            document.backups.removeAll { gone.contains($0.location) }
        } holds: { document in !document.backups.contains { gone.contains($0.location) } }
        var failures: [String] = []
        for backup in removed {
            do {
                try Transports.make(backup.location, options: options).delete(backup.location, cancellation: cancellation)
                // Its manifest goes with it, only where this engine puts it (the document does not choose).
                let manifest = ArchiveUpload.manifestLocation(of: backup.location)
                if backup.manifest == manifest {
                    try Transports.make(manifest, options: options).delete(manifest, cancellation: cancellation)
                }
            } catch {
                failures.append("\(Redaction.maskingURLSecrets(backup.location)): \(error)")
            }
        }
        if !failures.isEmpty {
            throw StageFailure("\(recorder.backupPoint) ← \(recorder.collectPoint): \(failures.count) expired backup(s) could not be "
                               + "deleted (no longer listed; delete them by hand): " + failures.joined(separator: "; "))
        }
        return removed
    }

    func mayDelete(_ location: String, recorded: Set<String>) -> Bool {
        RemotePath.isDirectChild(location, of: home)
            && (recorded.contains(location) || RemotePath.name(of: location).contains(recorder.host))
    }

    /// The policy over the backups, newest first; the newest is kept whatever the rules say.
    static func decide(_ policy: RetentionPolicy, _ backups: [BackupMetadata.Backup], now: Date = Date(),
                       calendar: Calendar = .current) -> [RetentionPolicy.Decision<BackupMetadata.Backup>] {
        var decisions = policy.apply(backups, date: \.created, calendar: calendar)
        if let newest = decisions.first, !newest.kept {
            decisions[0] = .init(item: newest.item, date: newest.date, reasons: ["newest"])
        }
        // The server would refuse to delete a backup still under Object Lock (as its entry records): it is kept,
        // and says until when. A wrong date in the document costs nothing: the server decides.
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = .current
        for (index, decision) in decisions.enumerated() {
            guard let until = decision.item.lockedUntil, until > now else { continue }
            decisions[index] = .init(item: decision.item, date: decision.date,
                                     reasons: decision.reasons + ["locked until \(formatter.string(from: until))"])
        }
        return decisions
    }
}

extension ArchivePrune: PlanNotes {
    /// One line per backup, newest first, with the rules that keep it or `delete`; the run's own new backup
    /// included. One quick attempt at the document: `plan` must not hang on a host.
    func notes(secrets: Secrets, journal: Journal?, date: Date, unreachable: UnreachableHosts) -> [String] {
        if let failure = unreachable.failure(for: metadataURL) {
            return ["cannot preview the retention: \(Redaction.maskingURLSecrets(metadataURL)) not asked, its server did not answer "
                    + "earlier in this plan (\(failure))"]
        }
        do {
            let options = try transport.quickOptions(secrets)
            var backups = (try recorder.document(options: options, cancellation: CancellationFlag())?.backups ?? [])
                .filter { $0.host == recorder.host }
            if replacesSameName { backups.removeAll { $0.location == newBackup } }
            var this = BackupMetadata.Backup(location: newBackup, digest: Digest.of(""), size: 0, created: date, host: "(this run)")
            this.lockedUntil = lock?.until(date)
            backups.append(this)
            let recorded = Set((journal.map { BackupRecords($0).backups(backupPoint: recorder.backupPoint, collectPoint: recorder.collectPoint) } ?? [])
                .map(\.location))
            let formatter = ISO8601DateFormatter()
            formatter.timeZone = .current
            return Self.decide(policy, backups, now: date).map { decision in
                let what = "\(formatter.string(from: decision.date)) \(Redaction.maskingURLSecrets(decision.item.location))"
                if decision.kept { return "keep    \(what)  (\(decision.reasons.joined(separator: ", ")))" }
                return mayDelete(decision.item.location, recorded: recorded)
                    ? (deletes ? "delete  \(what)" : "expired \(what)  (delete: never: for polyarchiv prune)")
                    : "expired \(what)  (not made by this host in this directory: left alone)"
            }
        } catch {
            if let unreadable = error as? BackupMetadata.Unreadable, unreadable.serverDidNotAnswer {
                unreachable.note(metadataURL, "\(unreadable.underlying)")
            }
            return ["cannot preview the retention: \(error)"]
        }
    }
}
