import Foundation
import Pipeline

/// `notify` stages: a hook fires on the events it subscribes to, with `{status}` (OK, KO, or `--` when
/// nothing ran), `{detailed_status}` (a line per point) and `{complete_log}` (the scope's stage results).
/// Hooks always run (they are effects, never cached) and never change a backup's outcome.
struct HookStage: StageRunner {
    let version = "1"
    let alwaysRuns = true
    let fire: @Sendable (_ event: String, _ report: HookReport, _ context: StageContext) throws -> Void

    func run(_ context: StageContext) async throws -> [Artifact] {
        let report = HookReport(context.inputs, before: context.node.id.hasSuffix("/before"))
        var subscribed: [String] = []
        if case .list(let events)? = context.node.parameters["events"] { subscribed = events }
        let firing = subscribed.filter { report.fires($0) }
        try await context.blocking {
            for event in firing { try fire(event, report, context) }
        }
        return []
    }

    /// `{status}`, `{detailed_status}`, `{complete_log}` and `{event}` in a parameter, filled in.
    static func fill(_ text: String, _ event: String, _ report: HookReport) -> String {
        text.replacingOccurrences(of: "{status}", with: report.status)
            .replacingOccurrences(of: "{detailed_status}", with: report.detailedStatus)
            .replacingOccurrences(of: "{complete_log}", with: report.completeLog)
            .replacingOccurrences(of: "{event}", with: event)
    }
}

/// What a hook knows about its scope when it fires.
struct HookReport: Sendable {
    let status: String
    let detailedStatus: String
    let completeLog: String
    let before: Bool
    let failed: Bool

    init(_ inputs: [StageContext.Input], before: Bool) {
        self.before = before
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
        switch event {
        case "before_backup": return before
        case "backup_success": return !before && !failed && status != "--"
        case "backup_error": return !before && failed
        case "after_backup": return !before
        default: return false
        }
    }
}

enum HookEngines {
    /// `log`: writes (or appends) the scope's log to a file.
    static let log = HookStage { event, report, context in
        guard let template = context.node.parameters.string("path") else { throw StageFailure("log hook without a path") }
        let path = HookStage.fill(template, event, report)
        let append = context.node.parameters["append"] == .bool(true)
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
    static let command = HookStage { event, report, context in
        let parameters = context.node.parameters
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
                                           cancellation: context.cancellation) { _ in }
        guard outcome.status == 0 else {
            throw StageFailure("hook command `\(command)` exited with status \(outcome.status) on \(event)", stderr: outcome.stderr)
        }
    }
}

extension HookEngines {
    /// `http`: a request per event; `style: healthchecks` pings `url/start` before, `url` on success and
    /// `url/fail` (with the log as body) on failure.
    static let http = HookStage { event, report, context in
        let parameters = context.node.parameters
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
        _ = try request.perform(cancellation: context.cancellation)
    }
}
