import Foundation
import Pipeline

/// `pushgateway`: the outcome of each run pushed to a Prometheus Pushgateway, grouped by job, instance (this
/// host) and scope (the hook's point, or `global`), so an alert rule sees a failed or a missing backup.
/// POST, not PUT: a failed run leaves `polyarchiv_last_success_timestamp_seconds` as the last success set it.
struct PushgatewayHook: HookEngine {
    static let spec = EngineSpec("pushgateway", .hook, "The outcome of each run pushed to a Prometheus Pushgateway.", parameters: [
        ParameterSpec("url", .url, required: true, "The Pushgateway, such as http://pushgateway:9091."),
        ParameterSpec("job", .string, default: "polyarchiv", "The `job` label."),
        ParameterSpec("instance", .string, "The `instance` label (default: this host's short name)."),
    ] + HTTPAccess.parameters, exclusive: [["password", "password_file"]])

    let url: String
    let job: String
    let instance: String?
    let access: HTTPAccess

    init(_ parameters: EngineParameters) throws {
        url = try parameters.required("url")
        job = parameters.string("job") ?? "polyarchiv"
        instance = parameters.string("instance")
        access = HTTPAccess(parameters)
    }

    func send(_ event: HookEvent, _ report: HookReport, _ context: HookContext) throws {
        let now = Int(Date().timeIntervalSince1970)
        var metrics: [(name: String, help: String, value: String)]
        if event.isBefore {
            metrics = [("polyarchiv_run_start_timestamp_seconds", "When the last run of this scope started.", "\(now)")]
        } else {
            let lines = report.detailedStatus.split(separator: "\n")
            let succeeded = !report.failed && !report.verifyFailed
            metrics = [
                ("polyarchiv_run_end_timestamp_seconds", "When the last run of this scope ended.", "\(now)"),
                ("polyarchiv_run_success", "1 when the last run of this scope backed up and verified everything, else 0.", succeeded ? "1" : "0"),
                ("polyarchiv_verify_failed", "1 when a verification of what a backup point holds failed in the last run.",
                 report.verifyFailed ? "1" : "0"),
                ("polyarchiv_points_failed", "Points (or backups of a point) that failed in the last run.",
                 "\(lines.filter { $0.hasPrefix("KO: ") }.count)"),
            ]
            if succeeded { metrics.append(("polyarchiv_last_success_timestamp_seconds", "When this scope last succeeded.", "\(now)")) }
        }
        let body = metrics.map { "# HELP \($0.name) \($0.help)\n# TYPE \($0.name) gauge\n\($0.name) \($0.value)\n" }.joined()
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        let labels = [("job", job), ("instance", instance ?? HostName.short()), ("scope", report.scope)]
        var request = HTTPRequest(url: base + "/metrics" + labels.map { "/\($0.0)/" + Self.segment($0.1) }.joined())
        request.method = "POST"
        request.body = body
        request.headers = [("Content-Type", "text/plain; version=0.0.4")]
        try access.apply(to: &request, context.secrets)
        _ = try request.perform(cancellation: context.cancellation)
    }

    /// A label value as a path segment: percent-encoded, or base64url (`@base64`) when it holds a slash or is empty.
    static func segment(_ value: String) -> String {
        if value.isEmpty || value.contains("/") {
            let encoded = Data(value.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
            return (encoded.isEmpty ? "=" : encoded) + "@base64"
        }
        return value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? value
    }
}
