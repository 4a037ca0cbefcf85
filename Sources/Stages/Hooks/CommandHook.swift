import Foundation
import Pipeline

/// `command`: runs a command with the event, the status and the log in its environment.
struct CommandHook: HookEngine {
    static let spec = EngineSpec("command", .hook, "Runs a command with the variables in its environment.", parameters: [
        ParameterSpec("command", .string, required: true, "Command line, run by /bin/sh -c."),
        ParameterSpec("environment", .map, "Extra environment variables."),
        ParameterSpec("on_failure", .choice(["warn", "abort"]), default: "warn",
                      "For a before_backup hook: `abort` blocks the scope's stages when the command fails (a precondition); "
                      + "`warn` (the default) reports the failure and lets the backups run."),
    ])

    let command: String
    let environment: [(String, EngineParameters.MapValue)]
    let blocksItsScopeOnFailure: Bool

    init(_ parameters: EngineParameters) throws {
        command = try parameters.required("command")
        environment = parameters.map("environment")
        blocksItsScopeOnFailure = parameters.string("on_failure") == "abort"
    }

    func send(_ event: HookEvent, _ report: HookReport, _ context: HookContext) throws {
        var variables = ChildProcess.baseEnvironment
        variables["POLYARCHIV_EVENT"] = event.rawValue
        variables["POLYARCHIV_STATUS"] = report.status
        variables["POLYARCHIV_DETAILED_STATUS"] = report.detailedStatus
        variables["POLYARCHIV_COMPLETE_LOG"] = report.completeLog
        for (name, value) in environment {
            switch value {
            case .secret(let secret): variables[name] = try context.secrets.reveal(secret)
            case .text(let text): variables[name] = report.fill(text, event)
            }
        }
        let line = report.fill(command, event)
        let outcome = try ChildProcess.run("/bin/sh", ["-c", line], environment: variables, timeout: 600,
                                           cancellation: context.cancellation) { _ in }
        guard outcome.status == 0 else {
            throw StageFailure("hook command `\(line)` exited with status \(outcome.status) on \(event.rawValue)", stderr: outcome.stderr)
        }
    }
}
