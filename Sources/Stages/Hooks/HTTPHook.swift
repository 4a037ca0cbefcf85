import Foundation
import Pipeline

/// `http`: a request per event; `style: healthchecks` pings `url/start` before, `url` on success and
/// `url/fail` (with the log as body) on failure.
struct HTTPHook: HookEngine {
    static let spec = EngineSpec("http", .hook, "An HTTP request, such as a healthchecks.io ping.", parameters: [
        ParameterSpec("url", .url, required: true, "URL to call."),
        ParameterSpec("method", .choice(["GET", "POST", "PUT", "HEAD"]), default: "GET", "HTTP method."),
        ParameterSpec("headers", .map, "Extra headers; values may be secrets (${env:…}, ${file:…})."),
        ParameterSpec("body", .string, "Request body."),
        ParameterSpec("username", .string, "Basic auth user."),
        ParameterSpec("password", .secret, "Basic auth password."),
        ParameterSpec("password_file", .path, "File whose first line is the password."),
        ParameterSpec("ca_cert", .path, "CA bundle for https://."),
        ParameterSpec("timeout", .duration, default: "30s", "Request timeout."),
        ParameterSpec("retries", .int(0...20), default: "2", "Retries of a failed request."),
        ParameterSpec("style", .choice(["plain", "healthchecks"]), default: "plain",
                      "healthchecks: ping url/start before, url on success, url/fail with the log on failure."),
    ], exclusive: [["password", "password_file"]])

    let url: String
    let method: String
    let headers: [(String, EngineParameters.MapValue)]
    let body: String?
    let username: String?
    let password: Secret?
    let caCert: String?
    let timeout: Int?
    let retries: Int?
    let healthchecks: Bool

    init(_ parameters: EngineParameters) throws {
        url = try parameters.required("url")
        method = parameters.string("method") ?? "GET"
        headers = parameters.map("headers")
        body = parameters.string("body")
        username = parameters.string("username")
        password = parameters.secret("password")
        caCert = parameters.string("ca_cert")
        timeout = parameters.seconds("timeout")
        retries = parameters.int("retries")
        healthchecks = parameters.string("style") == "healthchecks"
    }

    func send(_ event: HookEvent, _ report: HookReport, _ context: HookContext) throws {
        var request = HTTPRequest(url: report.fill(url, event))
        request.method = method
        request.body = body.map { report.fill($0, event) }
        if healthchecks {
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
        }
        request.headers = try headers.map { name, value in
            switch value {
            case .secret(let secret): return (name, try context.secrets.reveal(secret))
            case .text(let text): return (name, report.fill(text, event))
            }
        }
        request.username = username
        request.password = try password.map { try context.secrets.reveal($0) }
        request.caCert = caCert
        if let timeout { request.timeout = timeout }
        if let retries { request.retries = retries }
        _ = try request.perform(cancellation: context.cancellation)
    }
}
