import Foundation
import Pipeline

/// `http`: a request per event, or the calls a monitoring service expects (`style:`): healthchecks pings
/// `url/start` before, `url` on success and `url/fail` (with the log as body) on failure; ntfy publishes a
/// titled message to the topic `url`; Uptime Kuma's push `url` gets `status=up|down&msg=…`; Cronitor's
/// telemetry `url` gets `state=run|complete|fail&message=…`.
struct HTTPHook: HookEngine {
    static let spec = EngineSpec("http", .hook, "An HTTP request, such as a healthchecks.io ping.", parameters: [
        ParameterSpec("url", .url, required: true, "URL to call."),
        ParameterSpec("method", .choice(["GET", "POST", "PUT", "HEAD"]), default: "GET", "HTTP method."),
        ParameterSpec("headers", .map, "Extra headers; values may be secrets (${env:…}, ${file:…})."),
        ParameterSpec("body", .string, "Request body."),
    ] + HTTPAccess.parameters + [
        ParameterSpec("retries", .int(0...20), default: "2", "Retries of a failed request."),
        ParameterSpec("style", .choice(Style.allCases.map(\.rawValue)), default: "plain",
                      "healthchecks: ping url/start before, url on success, url/fail with the log on failure; "
                      + "ntfy: publish to the topic url (title, priority and tags by outcome, the status as message); "
                      + "uptime_kuma: the push url with status=up or down and msg; "
                      + "cronitor: the telemetry url with state=run, complete or fail and message."),
    ], exclusive: [["password", "password_file"]])

    let url: String
    let method: String
    let headers: [(String, EngineParameters.MapValue)]
    let body: String?
    let access: HTTPAccess
    let retries: Int?
    let style: Style

    enum Style: String, CaseIterable {
        case plain, healthchecks, ntfy
        case uptimeKuma = "uptime_kuma"
        case cronitor
    }

    init(_ parameters: EngineParameters) throws {
        url = try parameters.required("url")
        method = parameters.string("method") ?? "GET"
        headers = parameters.map("headers")
        body = parameters.string("body")
        access = HTTPAccess(parameters)
        retries = parameters.int("retries")
        style = parameters.string("style").flatMap(Style.init(rawValue:)) ?? .plain
    }

    func send(_ event: HookEvent, _ report: HookReport, _ context: HookContext) throws {
        var request = HTTPRequest(url: report.fill(url, event))
        request.method = method
        request.body = body.map { report.fill($0, event) }
        var styled: [(String, String)] = []
        let failed = event == .backupError || event == .verifyError || event == .restoreError
        let summary = "\(event.rawValue) \(report.status)" + (report.detailedStatus.isEmpty ? "" : "\n" + report.detailedStatus)
        switch style {
        case .plain:
            break
        case .healthchecks:
            let base = request.url.hasSuffix("/") ? String(request.url.dropLast()) : request.url
            switch event {
            case .beforeBackup: request.url = base + "/start"
            case .backupSuccess: request.url = base
            case .backupError, .verifyError:
                request.url = base + "/fail"
                request.method = "POST"
                request.body = report.detailedStatus + "\n\n" + report.completeLog
            default: return  // healthchecks has nothing for the other events
            }
        case .ntfy:
            request.method = "POST"
            request.body = body.map { report.fill($0, event) } ?? summary + (failed ? "\n\n" + report.completeLog : "")
            styled = [("Title", "polyarchiv on \(HostName.short()): \(event.rawValue.replacingOccurrences(of: "_", with: " "))"),
                      ("Priority", failed ? "high" : "default"),
                      ("Tags", failed ? "rotating_light" : event.isBefore ? "hourglass" : "white_check_mark")]
        case .uptimeKuma:
            guard !event.isBefore else { return }  // a push monitor hears only how it ended
            request.url = Self.adding(["status": failed ? "down" : "up", "msg": summary, "ping": ""], to: request.url)
        case .cronitor:
            let state = event.isBefore ? "run" : failed ? "fail" : "complete"
            request.url = Self.adding(["state": state, "message": summary], to: request.url)
        }
        request.headers = try styled + headers.map { name, value in
            switch value {
            case .secret(let secret): return (name, try context.secrets.reveal(secret))
            case .text(let text): return (name, report.fill(text, event))
            }
        }
        try access.apply(to: &request, context.secrets)
        if let retries { request.retries = retries }
        _ = try request.perform(cancellation: context.cancellation)
    }

    /// `url` with these query parameters (percent-encoded; a long message cut to what a URL carries).
    static func adding(_ items: [String: String], to url: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.queryItems = (components.queryItems ?? []) + items.sorted { $0.key < $1.key }.map {
            URLQueryItem(name: $0.key, value: String($0.value.prefix(1000)))
        }
        // `+` means a space to most servers' form decoding: encoded, it stays a plus.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return components.url?.absoluteString ?? url
    }
}
