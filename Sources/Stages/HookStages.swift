import Foundation
import Pipeline

/// `notify` stages: a hook fires on the events it subscribes to, with `{status}` (OK, KO, or `--` when
/// nothing ran), `{detailed_status}` (a line per point) and `{complete_log}` (the scope's stage results).
/// Hooks always run (they are effects, never cached) and never change a backup's outcome.
struct HookStage: StageRunner {
    let version = "1"
    let alwaysRuns = true
    let fire: @Sendable (_ event: String, _ report: HookReport, _ parameters: Parameters, _ cancellation: CancellationFlag) throws -> Void

    func run(_ context: StageContext) async throws -> [Artifact] {
        let report = HookReport(context.inputs, before: context.node.id.hasSuffix("/before"))
        var subscribed: [String] = []
        if case .list(let events)? = context.node.parameters["events"] { subscribed = events }
        let firing = subscribed.filter { report.fires($0) }
        try await context.blocking {
            for event in firing { try fire(event, report, context.node.parameters, context.cancellation) }
        }
        return []
    }

    /// Fires a hook outside a run's graph (restore events); blocking.
    static func fire(engine: String, parameters: Parameters, report: HookReport, cancellation: CancellationFlag) throws {
        guard let stage = StageRegistry.runner(for: engine, kind: .notify) as? HookStage else {
            throw StageFailure("hook engine \(engine) is not implemented")
        }
        guard case .list(let subscribed)? = parameters["events"] else { return }
        for event in subscribed where report.fires(event) { try stage.fire(event, report, parameters, cancellation) }
    }

    /// `{status}`, `{detailed_status}`, `{complete_log}` and `{event}` in a parameter, filled in.
    static func fill(_ text: String, _ event: String, _ report: HookReport) -> String {
        text.replacingOccurrences(of: "{status}", with: report.status)
            .replacingOccurrences(of: "{detailed_status}", with: report.detailedStatus)
            .replacingOccurrences(of: "{complete_log}", with: report.completeLog)
            .replacingOccurrences(of: "{event}", with: event)
    }
}

/// Hooks fired outside a run's graph: the restore events.
public enum Hooks {
    public static func fire(engine: String, parameters: Parameters, report: HookReport, cancellation: CancellationFlag) throws {
        try HookStage.fire(engine: engine, parameters: parameters, report: report, cancellation: cancellation)
    }
}

/// What a hook knows about its scope when it fires.
public struct HookReport: Sendable {
    public enum Phase: Sendable { case backup, restore }

    let status: String
    let detailedStatus: String
    let completeLog: String
    let before: Bool
    let failed: Bool
    let phase: Phase

    /// A restore's report: `outcomes` holds each point's label and error (nil when it succeeded).
    public init(restoreOf outcomes: [(label: String, error: String?)], before: Bool) {
        self.before = before
        phase = .restore
        failed = outcomes.contains { $0.error != nil }
        status = before || outcomes.isEmpty ? "--" : (failed ? "KO" : "OK")
        detailedStatus = outcomes.map { ($0.error == nil ? "OK: " : "KO: ") + $0.label }.joined(separator: "\n")
        completeLog = outcomes.map { "\($0.error == nil ? "restored" : "failed") \($0.label)" + ($0.error.map { ": \($0)" } ?? "") }
            .joined(separator: "\n")
    }

    init(_ inputs: [StageContext.Input], before: Bool) {
        self.before = before
        phase = .backup
        let outcomes = inputs.compactMap { input in input.outcome.map { (input.edge.from, $0, input.detail) } }
        failed = outcomes.contains { $0.1.isFailure }
        if before || outcomes.isEmpty || outcomes.allSatisfy({ $0.1 == .skipped }) {
            status = "--"
        } else {
            status = failed ? "KO" : "OK"
        }
        detailedStatus = outcomes.filter { $0.1 != .skipped }.map { id, outcome, _ in
            (outcome.isFailure ? "KO: " : "OK: ") + Self.pointLabel(id)
        }.joined(separator: "\n")
        completeLog = outcomes.map { id, outcome, detail in
            "\(outcome.rawValue) \(id)" + (detail.map { ": \($0)" } ?? "")
        }.joined(separator: "\n")
    }

    /// `collect:www` → `www`; `upload:offsite/www` → `offsite on www`.
    static func pointLabel(_ id: String) -> String {
        let body = id.split(separator: ":", maxSplits: 1).last.map(String.init) ?? id
        let parts = body.split(separator: "/")
        return parts.count >= 2 ? "\(parts[0]) on \(parts[1])" : body
    }

    func fires(_ event: String) -> Bool {
        switch (phase, event) {
        case (.backup, "before_backup"), (.restore, "before_restore"): return before
        case (.backup, "backup_success"), (.restore, "restore_success"): return !before && !failed && status != "--"
        case (.backup, "backup_error"), (.restore, "restore_error"): return !before && failed
        case (.backup, "after_backup"): return !before
        default: return false
        }
    }
}

enum HookEngines {
    /// `log`: writes (or appends) the scope's log to a file.
    static let log = HookStage { event, report, parameters, _ in
        guard let template = parameters.string("path") else { throw StageFailure("log hook without a path") }
        let path = HookStage.fill(template, event, report)
        let append = parameters["append"] == .bool(true)
        let formatter = ISO8601DateFormatter()
        var text = "\(formatter.string(from: Date())) \(event) \(report.status)\n"
        if !report.detailedStatus.isEmpty { text += report.detailedStatus + "\n" }
        if !report.completeLog.isEmpty { text += report.completeLog + "\n" }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o640)
        guard descriptor >= 0 else { throw StageFailure("cannot write the log \(path): \(FileIO.lastError)") }
        defer { close(descriptor) }
        try Data(text.utf8).withUnsafeBytes { try FileIO.writeAll(descriptor, $0, what: path) }
    }

    /// `command`: runs a command with the event, the status and the log in its environment.
    static let command = HookStage { event, report, parameters, cancellation in
        guard let template = parameters.string("command") else { throw StageFailure("command hook without a command") }
        var environment = ProcessInfo.processInfo.environment
        environment["POLYARCHIV_EVENT"] = event
        environment["POLYARCHIV_STATUS"] = report.status
        environment["POLYARCHIV_DETAILED_STATUS"] = report.detailedStatus
        environment["POLYARCHIV_COMPLETE_LOG"] = report.completeLog
        if case .map(let extra)? = parameters["environment"] {
            for (name, value) in extra {
                if case .secret(let secret) = value { environment[name] = try secret.reveal() } else {
                    environment[name] = HookStage.fill("\(value)", event, report)
                }
            }
        }
        let command = HookStage.fill(template, event, report)
        let outcome = try ChildProcess.run("/bin/sh", ["-c", command], environment: environment, timeout: 600,
                                           cancellation: cancellation) { _ in }
        guard outcome.status == 0 else {
            throw StageFailure("hook command `\(command)` exited with status \(outcome.status) on \(event)", stderr: outcome.stderr)
        }
    }
}

extension HookEngines {
    /// `http`: a request per event; `style: healthchecks` pings `url/start` before, `url` on success and
    /// `url/fail` (with the log as body) on failure.
    static let http = HookStage { event, report, parameters, cancellation in
        guard let template = parameters.string("url") else { throw StageFailure("http hook without a url") }
        var request = HTTPRequest(url: HookStage.fill(template, event, report))
        request.method = parameters.string("method") ?? "GET"
        request.body = parameters.string("body").map { HookStage.fill($0, event, report) }
        if parameters.string("style") == "healthchecks" {
            let base = request.url.hasSuffix("/") ? String(request.url.dropLast()) : request.url
            switch event {
            case "before_backup": request.url = base + "/start"
            case "backup_success": request.url = base
            case "backup_error":
                request.url = base + "/fail"
                request.method = "POST"
                request.body = report.detailedStatus + "\n\n" + report.completeLog
            default: return  // healthchecks has nothing for the other events
            }
        }
        if case .map(let headers)? = parameters["headers"] {
            request.headers = try headers.map { name, value in
                if case .secret(let secret) = value { return (name, try secret.reveal()) }
                return (name, HookStage.fill("\(value)", event, report))
            }
        }
        request.username = parameters.string("username")
        if case .secret(let secret)? = parameters["password"] { request.password = try secret.reveal() }
        request.caCert = parameters.string("ca_cert")
        if case .int(let seconds)? = parameters["timeout"] { request.timeout = seconds }
        if case .int(let retries)? = parameters["retries"] { request.retries = retries }
        _ = try request.perform(cancellation: cancellation)
    }

    /// `email`: one message per event through SMTP.
    static let email = HookStage { event, report, parameters, cancellation in
        guard case .list(let recipients)? = parameters["to"], !recipients.isEmpty else {
            throw StageFailure("email hook without recipients")
        }
        let fill = { (name: String) in parameters.string(name).map { HookStage.fill($0, event, report) } ?? "" }
        var send = SMTPSend(url: parameters.string("smtp_url") ?? "smtp://localhost",
                            message: MailMessage(from: fill("from"), to: recipients, subject: fill("subject"), body: fill("body")))
        send.username = parameters.string("username")
        if case .secret(let secret)? = parameters["password"] { send.password = try secret.reveal() }
        send.caCert = parameters.string("ca_cert")
        // A password never travels in clear unless the configuration says so.
        if case .bool(let required)? = parameters["require_tls"] {
            send.requireTLS = required
        } else {
            send.requireTLS = send.username != nil || send.password != nil
        }
        if case .int(let seconds)? = parameters["timeout"] { send.timeout = seconds }
        if case .int(let retries)? = parameters["retries"] { send.retries = retries }
        try send.perform(cancellation: cancellation)
    }
}
