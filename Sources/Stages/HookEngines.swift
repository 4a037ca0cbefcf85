enum HookCatalogue {
    static let all: [EngineSpec] = [log, email, http, command]

    static let log = EngineSpec("log", .hook, "Writes the scope's log to a file.", implemented: true, parameters: [
        ParameterSpec("path", .path, required: true, "Log file; may use variables such as {Y}-{m}-{d}."),
        ParameterSpec("append", .bool, default: "false", "Append instead of replacing the file."),
    ])

    static let email = EngineSpec("email", .hook, "Sends an e-mail through SMTP.", implemented: true, parameters: [
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

    static let http = EngineSpec("http", .hook, "An HTTP request, such as a healthchecks.io ping.", implemented: true, parameters: [
        ParameterSpec("url", .url, required: true, "URL to call."),
        ParameterSpec("method", .choice(["GET", "POST", "PUT", "HEAD"]), default: "GET", "HTTP method."),
        ParameterSpec("headers", .map, "Extra headers."),
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

    static let command = EngineSpec("command", .hook, "Runs a command with the variables in its environment.", implemented: true,
                                    parameters: [
        ParameterSpec("command", .string, required: true, "Command line, run by /bin/sh -c."),
        ParameterSpec("environment", .map, "Extra environment variables."),
    ])
}
