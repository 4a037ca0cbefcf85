import Foundation
import Pipeline

/// `apprise`: a notification through the apprise CLI, which reaches ntfy, Gotify, Matrix, Slack, Telegram,
/// PagerDuty, e-mail and a hundred more from one URL. The URL (it holds the service's token) goes to apprise
/// in a configuration file only its owner reads, never on its command line.
struct AppriseHook: HookEngine {
    static let spec = EngineSpec("apprise", .hook, "A notification through the apprise CLI (ntfy, Matrix, Slack, Telegram, e-mail…).",
                                 parameters: [
        ParameterSpec("url", .secret, "An apprise URL (tgram://…, mailto://…, ntfys://…); may be ${file:…} or ${env:…}."),
        ParameterSpec("config_file", .path, "An apprise configuration file (one URL per line, or its YAML), for several services."),
        ParameterSpec("title", .string, "The title (default: `polyarchiv on HOST: EVENT STATUS`)."),
        ParameterSpec("body", .string, default: "{detailed_status}\n\n{complete_log}", "The message."),
        ParameterSpec("apprise_command", .string, default: "apprise", "The apprise program (a name found on PATH, or a path)."),
        ParameterSpec("timeout", .duration, default: "2m", "How long apprise may take."),
    ], exclusive: [["url", "config_file"]], oneOf: [["url", "config_file"]])

    let url: Secret?
    let configFile: String?
    let title: String?
    let body: String
    let command: String
    let timeout: Int

    init(_ parameters: EngineParameters) throws {
        url = parameters.secret("url")
        configFile = parameters.string("config_file")
        title = parameters.string("title")
        body = parameters.string("body") ?? "{detailed_status}\n\n{complete_log}"
        command = parameters.string("apprise_command") ?? "apprise"
        timeout = parameters.seconds("timeout") ?? 120
    }

    func send(_ event: HookEvent, _ report: HookReport, _ context: HookContext) throws {
        let tool = try ExternalTool.locate([command], package: "apprise (pip install apprise, or Debian's apprise)")
        var secretConfig: SecretFile?
        defer { secretConfig?.remove() }
        let config: String
        if let url {
            secretConfig = try SecretFile(name: "apprise.txt", content: try context.secrets.reveal(url) + "\n")
            config = secretConfig!.path
        } else {
            config = configFile ?? ""
        }
        let failed = event == .backupError || event == .verifyError || event == .restoreError
        let heading = title.map { report.fill($0, event) }
            ?? "polyarchiv on \(HostName.short()): \(event.rawValue.replacingOccurrences(of: "_", with: " ")) \(report.status)"
        let message = report.fill(body, event)
        try tool.run(["--config=" + config, "--notification-type=" + (failed ? "failure" : event.isBefore ? "info" : "success"),
                      "--title=" + heading, "--body=" + (message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? heading : message)],
                     timeout: TimeInterval(timeout), cancellation: context.cancellation)
    }
}
