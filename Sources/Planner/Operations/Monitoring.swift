import Foundation
import Pipeline
import Stages

/// `polyarchiv check`: the health of every point from the journal, as a Nagios plugin reports it.
public enum Monitoring {
    public enum Status: Int32, Comparable, Sendable {
        case ok = 0, warning = 1, critical = 2, unknown = 3

        public var label: String { ["OK", "WARNING", "CRITICAL", "UNKNOWN"][Int(rawValue)] }
        public static func < (lhs: Status, rhs: Status) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public struct PointReport: Sendable {
        public let name: String
        public let status: Status
        /// One line, whatever a failed stage printed: Nagios reads the status up to the first newline and
        /// the perfdata after the first `|`.
        public let message: String
        public let age: TimeInterval?

        init(name: String, status: Status, message: String, age: TimeInterval?) {
            self.name = name
            self.status = status
            self.message = message.split(whereSeparator: { $0.isNewline || $0 == "\t" }).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.joined(separator: " / ").replacingOccurrences(of: "|", with: "/")
            self.age = age
        }
    }

    public struct Report: Sendable {
        public let status: Status
        public let points: [PointReport]

        /// The first line (status and summary) with performance data, as the plugin guidelines want.
        public var statusLine: String {
            let bad = points.filter { $0.status != .ok }
            let summary = bad.isEmpty ? "\(points.count) point(s) OK" : bad.map { "\($0.name): \($0.message)" }.joined(separator: "; ")
            return "POLYARCHIV \(status.label) - \(summary) | " + perfdata
        }

        var perfdata: String {
            points.map { point in
                let label = point.name.replacingOccurrences(of: "'", with: "_")
                return "'\(label)_age'=" + (point.age.map { "\(Int($0))s" } ?? "U") + ";;;0;"
            }.joined(separator: " ")
        }
    }

    /// What `check` judges: every point with its frequency and its status, taken from the journal (or from
    /// the status file `apply --status-file` writes for a monitoring user who may not read the journal).
    public struct Snapshot: Codable, Sendable {
        struct Entry: Codable, Sendable {
            /// `collect point`, `backup point` or `verify` (a backup point's verification of one collect point).
            let kind: String
            let name: String
            let frequency: String
            let status: PointStatuses.Status?
        }
        let written: Date
        let entries: [Entry]
    }

    static func snapshot(_ pipeline: CompiledPipeline, _ statuses: PointStatuses, at date: Date) -> Snapshot {
        var entries = pipeline.collectPoints.map { Snapshot.Entry(kind: PointStatuses.Kind.collectPoint.rawValue, name: $0.name,
                                                                  frequency: $0.frequency.description, status: statuses.status(.collectPoint, $0.name)) }
        entries += pipeline.backupPoints.map { Snapshot.Entry(kind: PointStatuses.Kind.backupPoint.rawValue, name: $0.name,
                                                              frequency: $0.frequency.description, status: statuses.status(.backupPoint, $0.name)) }
        for (backupPoint, collectPoint) in pipeline.associations {
            guard let frequency = pipeline.point(named: backupPoint)?.verifyFrequency,
                  let status = statuses.status(.verify, "\(backupPoint)/\(collectPoint)") else { continue }
            entries.append(Snapshot.Entry(kind: PointStatuses.Kind.verify.rawValue, name: "\(backupPoint)/\(collectPoint)",
                                          frequency: frequency.description, status: status))
        }
        return Snapshot(written: date, entries: entries)
    }

    /// `graceAlways`: how old the last success of an `always` point may be before it counts as overdue.
    public static func check(_ pipeline: CompiledPipeline, state: StateDirectory, now: Date, graceAlways: TimeInterval = 26 * 3600,
                             calendar: Calendar = .current) -> Report {
        guard let journal = state.readOnlyJournal() else {
            // A journal this user may not reach is not a journal that does not exist.
            var info = stat()
            let denied = stat(state.journalPath, &info) != 0 ? errno == EACCES : access(state.journalPath, R_OK) != 0
            let why = denied
                ? "cannot read the journal \(state.journalPath) (\(FileIO.lastError)); a monitoring user reads the status file "
                    + "that `apply --status-file FILE --status-group GROUP` writes: `check --status-file FILE`"
                : "never ran (no journal in \(state.url.path))"
            let points = (pipeline.collectPoints + pipeline.backupPoints).map {
                PointReport(name: $0.name, status: .critical, message: why, age: nil)
            }
            return Report(status: points.isEmpty ? .unknown : .critical, points: points)
        }
        return evaluate(snapshot(pipeline, PointStatuses(journal), at: now), now: now, graceAlways: graceAlways, calendar: calendar)
    }

    /// `check --status-file FILE`: the same judgement from the file `apply --status-file` wrote, without the
    /// configuration or the journal.
    public static func check(statusFile: String, now: Date, calendar: Calendar = .current) throws -> Report {
        guard let data = FileManager.default.contents(atPath: statusFile) else {
            throw StageFailure("cannot read the status file \(statusFile) (\(FileIO.lastError)); `apply --status-file \(statusFile)` writes it")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let snapshot = try? decoder.decode(Snapshot.self, from: data) else {
            throw StageFailure("\(statusFile) is not a polyarchiv status file")
        }
        return evaluate(snapshot, now: now, graceAlways: 26 * 3600, calendar: calendar)
    }

    /// Writes the status file: atomically, mode 0640, in `group` when given (the monitoring user's).
    public static func writeStatusFile(_ path: String, group: String?, pipeline: CompiledPipeline, journal: Journal, date: Date) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(snapshot(pipeline, PointStatuses(journal), at: date))
        var gid: gid_t?
        if let group {
            guard let entry = getgrnam(group) else { throw StageFailure("cannot write the status file: there is no group `\(group)`") }
            gid = entry.pointee.gr_gid
        }
        do {
            try AtomicFile.write(path, permissions: 0o640, group: gid) { sink in try data.withUnsafeBytes { try sink($0) } }
        } catch let failure as StageFailure {
            throw StageFailure("cannot write the status file: \(failure.message)")
        }
    }

    static func evaluate(_ snapshot: Snapshot, now: Date, graceAlways: TimeInterval, calendar: Calendar) -> Report {
        var reports: [PointReport] = []
        for entry in snapshot.entries {
            let frequency = (try? Frequency.parse(entry.frequency)) ?? .always
            if entry.kind == PointStatuses.Kind.verify.rawValue {
                if let report = verification(entry, frequency, now: now, calendar: calendar) { reports.append(report) }
                continue
            }
            guard let status = entry.status, status.lastSuccess != nil || status.lastFailure != nil else {
                let interrupted = entry.status?.lastInterrupted
                reports.append(PointReport(name: entry.name, status: .critical,
                                           message: interrupted.map { "never finished: its only run, at \(RunDecisions.format($0)), was interrupted" }
                                               ?? "never ran", age: nil))
                continue
            }
            let age = status.lastSuccess.map { now.timeIntervalSince($0) }
            if let failure = status.lastFailure, failure >= (status.lastSuccess ?? .distantPast) {
                reports.append(PointReport(name: entry.name, status: .critical,
                                           message: "last run failed: \(status.lastError ?? "see the journal")", age: age))
                continue
            }
            guard let success = status.lastSuccess else {
                reports.append(PointReport(name: entry.name, status: .critical, message: "never succeeded", age: nil))
                continue
            }
            let overdue: Bool
            if frequency == .always {
                overdue = now.timeIntervalSince(success) > graceAlways
            } else if let next = nextDue(frequency, after: success, calendar) {
                overdue = now.timeIntervalSince(next) > 3600
            } else {
                overdue = false
            }
            reports.append(PointReport(name: entry.name, status: overdue ? .warning : .ok,
                                       message: overdue ? "overdue: last success \(RunDecisions.format(success))"
                                                        : "last success \(RunDecisions.format(success))", age: age))
        }
        return Report(status: reports.map(\.status).max() ?? .unknown, points: reports)
    }

    /// `BP/CP verify`: critical when the newest backup failed its last verification, a warning when a
    /// verification is more than a day overdue.
    static func verification(_ entry: Snapshot.Entry, _ frequency: Frequency, now: Date, calendar: Calendar) -> PointReport? {
        guard let status = entry.status else { return nil }
        let name = "\(entry.name) verify"
        let age = status.lastSuccess.map { now.timeIntervalSince($0) }
        if let failure = status.lastFailure, failure >= (status.lastSuccess ?? .distantPast) {
            return PointReport(name: name, status: .critical,
                               message: "the stored backup failed its verification: \(status.lastError ?? "see the journal")", age: age)
        }
        guard let success = status.lastSuccess else { return nil }
        let next = nextDue(frequency, after: success, calendar)
        let overdue = next.map { now.timeIntervalSince($0) > 86_400 } ?? false
        return PointReport(name: name, status: overdue ? .warning : .ok,
                           message: (overdue ? "verification overdue: last verified " : "verified ") + RunDecisions.format(success), age: age)
    }

    /// `check --from-backup-points`: freshness judged from what the backup points hold (their metadata
    /// documents, commits, snapshots), not from a journal, so one machine with the configurations can watch
    /// every host. For each (backup point, collect point): CRITICAL when it cannot be read or holds no backup
    /// by `host`, WARNING when the newest is older than `maxAge` (default: one period of the point's
    /// frequency and an hour, or 26 hours for `always`).
    public static func checkFromBackupPoints(_ pipeline: CompiledPipeline, host: String?, maxAge: TimeInterval?, secrets: Secrets,
                                             now: Date, calendar: Calendar = .current) -> Report {
        let host = host ?? pipeline.host
        var reports: [PointReport] = []
        let scratch = try? ScratchDirectory("polyarchiv-check")
        defer { scratch?.remove() }
        let context = RestoreContext(secrets: secrets, cancellation: CancellationFlag(), identityFile: nil, scratch: scratch?.path ?? "/tmp")
        for (backupPoint, collectPoint) in pipeline.associations {
            let name = "\(backupPoint)/\(collectPoint)"
            let listing: Restore.Listing
            do {
                guard let found = try Restore.list(pipeline, collectPoint: collectPoint, backupPoint: backupPoint, host: host,
                                                   secrets: secrets).first else { continue }
                listing = found
            } catch {
                reports.append(PointReport(name: name, status: .critical, message: "cannot be read: \(error)", age: nil))
                continue
            }
            // A document is the backup server's word: an entry dated in the future (a wrong clock, or a forged
            // entry) does not count as fresh, and the newest must still be there.
            let future = listing.backups.filter { $0.created > now.addingTimeInterval(300) }
            guard let newest = listing.backups.first(where: { $0.created <= now.addingTimeInterval(300) }) else {
                reports.append(PointReport(name: name, status: .critical, message: "no backup by \(host) in \(listing.place)"
                                           + (future.isEmpty ? "" : " (\(future.count) dated in the future, not trusted)"), age: nil))
                continue
            }
            if let pair = pipeline.backup(backupPoint, collectPoint) {
                do {
                    if try pair.engine.holds(newest, context) == false {
                        reports.append(PointReport(name: name, status: .critical, message: "the newest backup by \(host), of "
                                                   + RunDecisions.format(newest.created) + ", is listed but gone: "
                                                   + Redaction.maskingURLSecrets(newest.location), age: nil))
                        continue
                    }
                } catch {
                    reports.append(PointReport(name: name, status: .critical, message: "cannot be read: \(error)", age: nil))
                    continue
                }
            }
            let age = now.timeIntervalSince(newest.created)
            let limit = maxAge ?? expectedAge(of: [pipeline.point(named: backupPoint)?.frequency, pipeline.point(named: collectPoint)?.frequency],
                                              after: newest.created, calendar: calendar)
            let when = RunDecisions.format(newest.created)
            reports.append(PointReport(name: name, status: age > limit || !future.isEmpty ? .warning : .ok,
                                       message: (age > limit ? "overdue: the newest backup by \(host) is from " : "newest backup by \(host) ")
                                           + when + " (\(listing.backups.count) in all"
                                           + (future.isEmpty ? ")" : "; \(future.count) dated in the future, not trusted)"), age: age))
        }
        return Report(status: reports.map(\.status).max() ?? .unknown, points: reports)
    }

    /// How old the newest backup may be: the slowest of the frequencies that make one, plus an hour.
    static func expectedAge(of frequencies: [Frequency?], after created: Date, calendar: Calendar) -> TimeInterval {
        let spans = frequencies.compactMap { $0 }.filter { $0 != .always }.compactMap { frequency -> TimeInterval? in
            nextDue(frequency, after: created, calendar)
                .map { $0.timeIntervalSince(created) + 3600 }
        }
        return spans.max() ?? 26 * 3600
    }

    /// When a point that succeeded at `success` is due again.
    private static func nextDue(_ frequency: Frequency, after success: Date, _ calendar: Calendar) -> Date? {
        if let next = frequency.nextDue(lastSuccess: success, now: success, calendar: calendar) { return next }
        if case .every(let span) = frequency { return span.after(success, calendar: calendar) }
        return frequency.nextBoundary(after: success, calendar: calendar)
    }
}

/// `polyarchiv gc`, and the trim after every run: drops the store objects that no point needs for its next
/// run (the newest outputs of every stage, and what engines keep alive).
public enum GarbageCollector {
    public struct Result: Sendable {
        public let removed: Int
        public let freed: Int64
        public let kept: Int
        public let forgottenExecutions: Int
        /// Backups forgotten by `--forget-backups`, by backup point.
        public var forgottenBackups: [(backupPoint: String, count: Int)] = []
    }

    /// `forgettingBackupsOf`: backup points whose backups were removed on purpose; this host forgets what it
    /// recorded there, so the next apply starts a new history instead of refusing a missing metadata document.
    public static func run(state: StateDirectory, forgettingBackupsOf backupPoints: [String] = []) throws -> Result {
        guard state.exists else {
            throw StageFailure("there is no polyarchiv state directory at \(state.url.path) (no journal.sqlite): check --state-dir")
        }
        let lock = try RunLock(directory: state.url, hint: "wait for it to finish, then run gc again")
        defer { withExtendedLifetime(lock) {} }
        let journal = try Journal(path: state.journalPath)
        let store = try ContentStore(root: state.storeURL)
        store.removeTemporaryFiles()
        let forgotten = try backupPoints.map { ($0, try BackupRecords.forget(backupPoint: $0, in: journal)) }
        var result = try collect(journal: journal, store: store)
        result.forgottenBackups = forgotten
        return result
    }

    /// Under the state lock.
    static func collect(journal: Journal, store: ContentStore) throws -> Result {
        // The journal keeps the stage history of the last 100 runs (and every node's latest success).
        let forgotten = try journal.pruneHistory(keepRuns: 100)
        var live = Set<Digest>()
        for artifact in try journal.liveOutputs() where artifact.kind != .remote {
            live.insert(artifact.digest)
            if artifact.kind == .tree, store.contains(artifact.digest) {
                // A live manifest that cannot be read would make its blobs look unused: stop rather than guess.
                let tree = try store.tree(artifact.digest)
                for entry in tree.files { if let digest = entry.digest { live.insert(digest) } }
            }
        }
        // What engines keep alive too (a remembered ciphertext).
        live.formUnion(try journal.keptDigests())
        var removed = 0
        var freed: Int64 = 0
        for digest in store.allObjects() where !live.contains(digest) {
            freed += store.size(of: digest) ?? 0
            store.remove(digest)
            removed += 1
        }
        return Result(removed: removed, freed: freed, kept: live.count, forgottenExecutions: forgotten)
    }
}
