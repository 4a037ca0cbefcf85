import Foundation
import Pipeline
import Stages

/// What the user asked `apply` to cover.
public struct RunSelection: Sendable {
    public var force = false
    public var onlyCollectPoints: [String] = []
    public var onlyBackupPoints: [String] = []
    public var skipCollect = false
    public var skipBackup = false
    /// `polyarchiv verify`: only the verifications run, whatever their frequency.
    public var verifyOnly = false

    public init(force: Bool = false, onlyCollectPoints: [String] = [], onlyBackupPoints: [String] = [],
                skipCollect: Bool = false, skipBackup: Bool = false) {
        self.force = force
        self.onlyCollectPoints = onlyCollectPoints
        self.onlyBackupPoints = onlyBackupPoints
        self.skipCollect = skipCollect
        self.skipBackup = skipBackup
    }

    /// A glob that matches no point is a mistake (a typo would otherwise run nothing and exit 0).
    public func check(_ pipeline: CompiledPipeline) throws {
        for (globs, points, option) in [(onlyCollectPoints, pipeline.collectPoints, "--only-collect-points"),
                                        (onlyBackupPoints, pipeline.backupPoints, "--only-backup-points")] {
            for glob in globs where !points.contains(where: { TagRule.anyMatch([glob], $0.tags + [$0.name]) }) {
                let names = points.map(\.name).joined(separator: ", ")
                let tags = Set(points.flatMap(\.tags)).sorted().joined(separator: ", ")
                throw StageFailure("\(option) `\(glob)` matches no point's name or tag (names: \(names.isEmpty ? "none" : names)"
                                   + (tags.isEmpty ? "" : "; tags: \(tags)") + ")")
            }
        }
    }
}

/// Decides, before a run, which nodes run and which are skipped (frequency, --only-*, --skip-*).
public enum RunDecisions {
    static func compute(_ pipeline: CompiledPipeline, journal: Journal?, selection: RunSelection, now: Date,
                        calendar: Calendar = .current) -> [StageID: Preset] {
        var decisions: [StageID: Preset] = [:]
        let statuses = journal.map(PointStatuses.init)
        let graph = pipeline.graph
        func matches(_ point: CompiledPipeline.Point, _ globs: [String]) -> Bool {
            TagRule.anyMatch(globs, point.tags + [point.name])
        }
        func frequencySkip(_ frequency: Frequency, kind: PointStatuses.Kind, name: String) -> String? {
            guard !selection.force else { return nil }
            let status = statuses?.status(kind, name)
            guard let last = status?.lastSuccess, !frequency.isDue(lastSuccess: last, now: now, calendar: calendar) else { return nil }
            let next = frequency.nextDue(lastSuccess: last, now: now, calendar: calendar)
            return "frequency \(frequency): next due " + (next.map(Self.format) ?? "now")
        }
        // Collect points.
        var collectDecision: [String: Preset] = [:]
        for point in pipeline.collectPoints {
            var reason: String?
            if !selection.onlyCollectPoints.isEmpty && !matches(point, selection.onlyCollectPoints) {
                reason = "not selected by --only-collect-points"
            } else if selection.skipCollect {
                reason = "--skip-collect"
            } else {
                reason = frequencySkip(point.frequency, kind: .collectPoint, name: point.name)
            }
            collectDecision[point.name] = reason.map { .skip(reason: $0, reuseLastOutputs: true) } ?? .run
        }
        // Pairs: a backup point ships a collect point.
        var pairDecision: [String: Preset] = [:]
        var verifyDecision: [String: Preset] = [:]
        for (backupPoint, collectPoint) in pipeline.associations {
            guard let bp = pipeline.point(named: backupPoint), let cp = pipeline.point(named: collectPoint) else { continue }
            var reason: String?
            if selection.skipBackup {
                reason = "--skip-backup"
            } else if !selection.onlyBackupPoints.isEmpty && !matches(bp, selection.onlyBackupPoints) {
                reason = "not selected by --only-backup-points"
            } else if !selection.onlyCollectPoints.isEmpty && !matches(cp, selection.onlyCollectPoints) {
                reason = "not selected by --only-collect-points"
            } else {
                reason = frequencySkip(bp.frequency, kind: .backup, name: "\(backupPoint)/\(collectPoint)")
            }
            let selected = reason == nil || reason!.hasPrefix("frequency")
            if selection.verifyOnly { reason = "polyarchiv verify runs only the verifications" }
            // A backup that failed its verification is uploaded again, whatever the cache says, and verified again.
            // (Only while the pair is verified: with `verify: false`, nothing would ever clear the record.)
            let verified = graph.nodes.contains { $0.id == StageID(.verify, backupPoint, collectPoint) }
            let failed = verified ? journal.flatMap { try? VerifyFailure.find(backupPoint, collectPoint, in: $0) } : nil
            pairDecision["\(backupPoint)/\(collectPoint)"] = reason.map { .skip(reason: $0, reuseLastOutputs: false) }
                ?? failed.map { .rerun(reason: "its backup \($0.backup) failed its verification \(Self.format($0.found)): uploaded again") } ?? .run
            // A verification has its own frequency; `verify` runs it whatever it says.
            var verifyReason: String?
            if !selected {
                verifyReason = reason
            } else if !selection.verifyOnly, failed == nil, let frequency = bp.verifyFrequency {
                verifyReason = frequencySkip(frequency, kind: .verify, name: "\(backupPoint)/\(collectPoint)")
            }
            verifyDecision["\(backupPoint)/\(collectPoint)"] = verifyReason.map { .skip(reason: $0, reuseLastOutputs: false) } ?? .run
        }
        for node in graph.nodes {
            switch pipeline.roles[node.id] {
            case .dump(let cp, _)?, .collect(let cp)?, .collectFilter(let cp, _)?:
                decisions[node.id] = selection.verifyOnly ? .skip(reason: "polyarchiv verify runs only the verifications", reuseLastOutputs: true)
                    : collectDecision[cp] ?? .run
            case .verify(let bp, let cp)?:
                decisions[node.id] = verifyDecision["\(bp)/\(cp)"] ?? .run
            case .upload(let bp, let cp)?, .prune(let bp, let cp)?:
                decisions[node.id] = pairDecision["\(bp)/\(cp)"] ?? .run
            case .archive?, .backupFilter?, .hook?, nil:
                continue
            }
        }
        // Shared nodes (archives, backup point filters) run when something that needs them runs.
        for node in graph.nodes.reversed() where decisions[node.id] == nil && node.kind != .notify {
            let consumers = graph.outputs(of: node.id).map(\.to)
            if consumers.contains(where: { decisions[$0]?.runs ?? true }) {
                decisions[node.id] = .run
            } else {
                decisions[node.id] = .skip(reason: "nothing that needs it runs", reuseLastOutputs: false)
            }
        }
        // Hooks run with their scope: a run that skips everything notifies nobody.
        for node in graph.nodes where node.kind == .notify {
            let neighbours = graph.outputs(of: node.id).map(\.to) + graph.inputs(of: node.id).map(\.from)
            let anyRuns = neighbours.contains { decisions[$0]?.runs == true }
            decisions[node.id] = anyRuns ? .run : .skip(reason: "nothing in its scope runs", reuseLastOutputs: false)
        }
        return decisions
    }

    /// `2026-12-01 02:30`, in local time: how plans, checks and listings show a moment.
    /// (With `localtime_r`: a listing formats one date per entry, and a DateFormatter each cost most of `ls`.)
    public static func format(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0" + String(value) : String(value) }
        return String(parts.tm_year + 1900) + "-" + two(parts.tm_mon + 1) + "-" + two(parts.tm_mday) + " "
            + two(parts.tm_hour) + ":" + two(parts.tm_min)
    }
}
