import Foundation
import Pipeline

/// `rolling_archive` retention, after the run's archive is uploaded and verified: the backups of the
/// metadata document that no `keep:` rule keeps are dropped from it, then deleted. The newest is never
/// deleted. (The document is rewritten first: a file left behind is harmless, a listed backup that is
/// gone is not.)
struct ArchivePrune: StageRunner {
    let version = "1"
    /// Time passes between runs: `within` and the buckets change even when the archive does not.
    let alwaysRuns = true

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        guard let metadataURL = parameters.string("metadata_url"), let backupPoint = context.node.backupPoint,
              let collectPoint = context.node.collectPoint else { throw StageFailure("retention without a metadata document") }
        return try await context.blocking {
            let policy = try RetentionPolicy(parameters["keep"])
            guard let document = try BackupMetadata.read(metadataURL, parameters: parameters, cancellation: context.cancellation) else {
                return []
            }
            let decisions = Self.decide(policy, document.backups)
            let kept = decisions.filter(\.kept).map(\.item)
            var removed = decisions.filter { !$0.kept }.map(\.item).filter { gone in !kept.contains { $0.location == gone.location } }
            // The document comes from the backup server: only what lies where this point writes is deleted.
            let home = parameters.string("url").map { Self.directory($0) }
            for stranger in removed where Self.directory(stranger.location) != home {
                context.warn("expired backup \(Redaction.maskingURLPassword(stranger.location)) is not in this backup point's directory; "
                             + "not deleted (delete it by hand if it is yours)")
            }
            removed.removeAll { Self.directory($0.location) != home }
            guard !removed.isEmpty else { return [] }
            var trimmed = document
            trimmed.backups = kept
            try BackupMetadata.write(trimmed, to: metadataURL, parameters: parameters, cancellation: context.cancellation)
            var failures: [String] = []
            for backup in removed {
                do {
                    try Transports.make(backup.location, options: try TransportOptions(parameters))
                        .delete(backup.location, cancellation: context.cancellation)
                } catch {
                    failures.append("\(Redaction.maskingURLPassword(backup.location)): \(error)")
                }
            }
            if !failures.isEmpty {
                throw StageFailure("\(backupPoint) ← \(collectPoint): \(failures.count) expired backup(s) could not be deleted "
                                   + "(no longer listed; delete them by hand): " + failures.joined(separator: "; "))
            }
            return []
        }
    }

    /// `scheme://host/dir` of a URL (its last component dropped).
    static func directory(_ url: String) -> String {
        url.range(of: "/", options: .backwards).map { String(url[..<$0.lowerBound]) } ?? url
    }

    /// The policy over the backups, newest first; the newest is kept whatever the rules say.
    static func decide(_ policy: RetentionPolicy, _ backups: [BackupMetadata.Backup], calendar: Calendar = .current)
        -> [RetentionPolicy.Decision<BackupMetadata.Backup>] {
        var decisions = policy.apply(backups, date: \.created, calendar: calendar)
        if let newest = decisions.first, !newest.kept {
            decisions[0] = .init(item: newest.item, date: newest.date, reasons: ["newest"])
        }
        return decisions
    }
}

/// What retention will do at the next run, for `plan`.
public enum RetentionPreview {
    /// One line per backup, newest first, with the rules that keep it or `delete`; the run's own new
    /// backup (at `date`, `location`) included.
    public static func lines(_ node: StageNode, newBackup location: String?, at date: Date) throws -> [String] {
        guard let metadataURL = node.parameters.string("metadata_url") else { return [] }
        let policy = try RetentionPolicy(node.parameters["keep"])
        var backups = try BackupMetadata.read(metadataURL, parameters: node.parameters, quick: true)?.backups ?? []
        if let location {
            backups.removeAll { $0.location == location }
            backups.append(.init(location: location, digest: Digest.of(""), size: 0, created: date, host: "(this run)"))
        }
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = .current
        return ArchivePrune.decide(policy, backups).map { decision in
            let what = "\(formatter.string(from: decision.date)) \(Redaction.maskingURLPassword(decision.item.location))"
            return decision.kept ? "keep    \(what)  (\(decision.reasons.joined(separator: ", ")))" : "delete  \(what)"
        }
    }
}
