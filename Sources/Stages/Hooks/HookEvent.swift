import Foundation
import Pipeline

/// The events hooks subscribe to, in the order they happen.
public enum HookEvent: String, CaseIterable, Sendable, Codable {
    case beforeBackup = "before_backup", backupSuccess = "backup_success", backupError = "backup_error",
         afterBackup = "after_backup", beforeRestore = "before_restore", restoreSuccess = "restore_success",
         restoreError = "restore_error", verifyError = "verify_error"

    /// Fired before the scope's first stage (a hook stage of its own, before them).
    public var isBefore: Bool { self == .beforeBackup || self == .beforeRestore }
    public var isRestore: Bool { [.beforeRestore, .restoreSuccess, .restoreError].contains(self) }

    public static let names = allCases.map(\.rawValue)
}

/// When a hook stage fires: before its scope, or after it.
public enum HookPhase: String, Sendable, Codable {
    case before, after
}

/// What a hook knows about its scope when it fires: `{status}` (OK, KO, or `--` when nothing ran),
/// `{detailed_status}` (a line per point) and `{complete_log}` (the scope's stages with their outcome).
public struct HookReport: Sendable {
    public let status: String
    public let detailedStatus: String
    public let completeLog: String
    public let phase: HookPhase
    /// A backup stage failed (a verification aside).
    public let failed: Bool
    /// A verification of what a backup point holds failed.
    public let verifyFailed: Bool
    /// The hook's scope: a point's name, or `global`.
    public var scope = "global"
    /// Something besides verifications ran (`polyarchiv verify` alone is no backup to report a success of).
    let backedUp: Bool

    /// `outcomes`: each stage of the scope with its label for `{detailed_status}` (nil: not a point's last
    /// stage), how it ended and why. A restore's log names the points restored rather than the stages.
    /// `log`: every stage of the scope for `{complete_log}` (when nil, `outcomes`).
    public init(phase: HookPhase, outcomes: [(stage: StageID, point: String?, outcome: NodeOutcome, detail: String?)], restore: Bool = false,
                log: [(stage: StageID, point: String?, outcome: NodeOutcome, detail: String?)]? = nil) {
        self.phase = phase
        failed = outcomes.contains { $0.outcome.isFailure && $0.stage.kind != .verify }
        verifyFailed = outcomes.contains { $0.outcome.isFailure && $0.stage.kind == .verify }
        backedUp = outcomes.contains { $0.outcome != .skipped && $0.stage.kind != .verify }
        if phase == .before || outcomes.isEmpty || outcomes.allSatisfy({ $0.outcome == .skipped }) {
            status = "--"
        } else {
            status = failed || verifyFailed ? "KO" : "OK"
        }
        detailedStatus = outcomes.filter { $0.outcome != .skipped && $0.point != nil }.map {
            ($0.outcome.isFailure ? "KO: " : "OK: ") + $0.point!
        }.joined(separator: "\n")
        completeLog = (log ?? outcomes).map { outcome in
            let what = restore && outcome.point != nil ? "\(outcome.outcome.isFailure ? "failed" : "restored") \(outcome.point!)"
                : "\(outcome.outcome.rawValue) \(outcome.stage)"
            return what + (outcome.detail.map { ": \($0)" } ?? "")
        }.joined(separator: "\n")
    }

    /// Whether `event` fires for this report.
    public func fires(_ event: HookEvent) -> Bool {
        switch event {
        case .beforeBackup, .beforeRestore: return phase == .before
        case .backupSuccess, .restoreSuccess: return phase == .after && !failed && !verifyFailed && backedUp
        case .backupError, .restoreError: return phase == .after && failed
        case .verifyError: return phase == .after && verifyFailed
        case .afterBackup: return phase == .after
        }
    }

    /// `{status}`, `{detailed_status}`, `{complete_log}` and `{event}` in a hook's text, filled in.
    public func fill(_ text: String, _ event: HookEvent) -> String {
        text.replacingOccurrences(of: "{status}", with: status)
            .replacingOccurrences(of: "{detailed_status}", with: detailedStatus)
            .replacingOccurrences(of: "{complete_log}", with: completeLog)
            .replacingOccurrences(of: "{event}", with: event.rawValue)
    }
}

/// What a hook may use when it sends.
public struct HookContext: Sendable {
    public let secrets: Secrets
    public let cancellation: CancellationFlag

    public init(secrets: Secrets, cancellation: CancellationFlag) {
        self.secrets = secrets
        self.cancellation = cancellation
    }
}

/// A `notify` stage: a hook fired on the events of its scope that it subscribes to. Hooks always run
/// (never cached) and never change a backup's outcome.
public struct HookStage: StageWork {
    public let version = "2"
    public let alwaysRuns = true
    public let hook: any HookEngine
    public let events: [HookEvent]
    public let phase: HookPhase
    /// Each input stage that ends a point, with the point's label (`www`, `offsite on www`); other inputs
    /// (another hook) only order it.
    public let pointLabels: [StageID: String]
    /// The scope's stages, for `{complete_log}`: they all ended before the hook runs.
    public let logged: [StageID]

    public init(hook: any HookEngine, events: [HookEvent], phase: HookPhase, pointLabels: [StageID: String], logged: [StageID] = []) {
        self.hook = hook
        self.events = events
        self.phase = phase
        self.pointLabels = pointLabels
        self.logged = logged
    }

    public func run(_ context: StageContext) async throws -> [Artifact] {
        // The scope's stages that end a point; an edge from another hook only orders the two.
        let outcomes = context.inputs.compactMap { input in
            pointLabels[input.edge.from].flatMap { label in
                input.outcome.map { (stage: input.edge.from, point: label, outcome: $0, detail: input.detail) }
            }
        }
        let log = logged.compactMap { id in
            context.earlier[id].map { (stage: id, point: pointLabels[id], outcome: $0.outcome, detail: $0.detail) }
        }
        let made = HookReport(phase: phase, outcomes: phase == .before ? [] : outcomes, restore: events.contains(where: \.isRestore),
                                log: phase == .before || log.isEmpty ? nil : log)
        var scoped = made
        scoped.scope = context.node.id.path.first ?? "global"
        let report = scoped
        let firing = events.filter { report.fires($0) }
        let hookContext = HookContext(secrets: context.secrets, cancellation: context.cancellation)
        try await context.blocking {
            for event in firing { try hook.send(event, report, hookContext) }
        }
        return []
    }
}
