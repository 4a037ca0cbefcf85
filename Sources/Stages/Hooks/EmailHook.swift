import Foundation
import Pipeline

/// `email`: one message per event through SMTP (libcurl).
struct EmailHook: HookEngine {
    static let spec = EngineSpec("email", .hook, "Sends an e-mail through SMTP.", parameters: [
        ParameterSpec("to", .list, required: true, "Recipients."),
        ParameterSpec("from", .string, default: "{username}@{fqdn}", "Sender."),
        ParameterSpec("subject", .string, default: "[BACKUP][{fqdn}] {Y}-{m}-{d} {H}:{M} [{status}]", "Subject."),
        ParameterSpec("body", .string, default: "{detailed_status}\n\n{complete_log}", "Body."),
        ParameterSpec("smtp_url", .url, default: "smtp://localhost", "smtp://host[:port] (STARTTLS when offered) or smtps://host[:port]."),
        ParameterSpec("username", .string, "SMTP user."),
        ParameterSpec("password", .secret, "SMTP password."),
        ParameterSpec("password_file", .path, "File whose first line is the SMTP password."),
        ParameterSpec("require_tls", .bool,
                      "Fail rather than send without TLS; default: true when a username or password is set (no password in clear)."),
        ParameterSpec("ca_cert", .path, "CA bundle to verify the server's certificate (STARTTLS or smtps://)."),
        ParameterSpec("timeout", .duration, default: "60s", "Time allowed for sending one message."),
        ParameterSpec("retries", .int(0...20), default: "2", "Retries after a connection failure."),
    ], exclusive: [["password", "password_file"]])

    let to: [String]
    let from: String
    let subject: String
    let body: String
    let smtpURL: String
    let username: String?
    let password: Secret?
    let requireTLS: Bool
    let caCert: String?
    let timeout: Int?
    let retries: Int?

    init(_ parameters: EngineParameters) throws {
        to = parameters.list("to")
        guard !to.isEmpty else { throw ConfigurationError("`to` needs at least one recipient", parameter: "to") }
        from = parameters.string("from") ?? ""
        subject = parameters.string("subject") ?? ""
        body = parameters.string("body") ?? ""
        smtpURL = parameters.string("smtp_url") ?? "smtp://localhost"
        username = parameters.string("username")
        password = parameters.secret("password")
        // A password never travels in clear unless the configuration says so.
        requireTLS = parameters.bool("require_tls") ?? (username != nil || password != nil)
        caCert = parameters.string("ca_cert")
        timeout = parameters.seconds("timeout")
        retries = parameters.int("retries")
    }

    func send(_ event: HookEvent, _ report: HookReport, _ context: HookContext) throws {
        var send = SMTPSend(url: smtpURL, message: MailMessage(from: report.fill(from, event), to: to, subject: report.fill(subject, event),
                                                               body: report.fill(body, event)))
        send.username = username
        send.password = try password.map { try context.secrets.reveal($0) }
        send.caCert = caCert
        send.requireTLS = requireTLS
        if let timeout { send.timeout = timeout }
        if let retries { send.retries = retries }
        try send.perform(cancellation: context.cancellation)
    }
}
