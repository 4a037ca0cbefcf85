import Foundation
import Pipeline

/// `command` source: the standard output of `/bin/sh -c COMMAND`, streamed into the store; put back by its
/// `restore_command`, which reads the data on stdin.
struct CommandSource: SourceEngine {
    static let spec = EngineSpec("command", .source, "The standard output of any command.", parameters: [
        ParameterSpec("command", .string, required: true, "The command line, run by /bin/sh -c; its stdout is the data."),
        ParameterSpec("restore_command", .string, "Command that restores: it reads the data on stdin."),
        ParameterSpec("environment", .map, "Extra environment variables for the command; values may be secrets."),
    ])

    let version = "1"
    let alwaysRuns = true
    let command: String
    let restoreCommand: String?
    let environment: [(String, EngineParameters.MapValue)]
    let timeout: TimeInterval?

    init(_ parameters: EngineParameters) throws {
        command = try parameters.required("command")
        restoreCommand = parameters.string("restore_command")
        environment = parameters.map("environment")
        timeout = parameters.seconds("timeout").map(TimeInterval.init)
    }

    func defaultDestination(source name: String) -> String { "\(name).out" }
    var summary: String { "command `\(command)`" }

    /// polyarchiv's base environment, with the configured variables (secrets revealed).
    func childEnvironment(_ secrets: Secrets) throws -> [String: String] {
        var result = ChildProcess.baseEnvironment
        for (name, value) in environment {
            switch value {
            case .secret(let secret): result[name] = try secrets.reveal(secret)
            case .text(let text): result[name] = text
            }
        }
        return result
    }

    func run(_ context: StageContext) async throws -> [Artifact] {
        let environment = try childEnvironment(context.secrets)
        return try await context.blocking { [self] in
            let writer = try context.store.makeWriter()
            let outcome = try ChildProcess.run("/bin/sh", ["-c", command], environment: environment, timeout: timeout,
                                               cancellation: context.cancellation) { chunk in
                try writer.write(chunk)
                context.progress(writer.count)
            }
            if outcome.timedOut {
                throw StageFailure("`\(command)` did not finish within \(TimeSpan.format(seconds: Int(timeout ?? 0))) and was killed",
                                   stderr: outcome.stderr)
            }
            guard outcome.status == 0 else {
                throw StageFailure("`\(command)` exited with status \(outcome.status)", stderr: outcome.stderr)
            }
            return [try writer.finish()]
        }
    }

    func putBack(_ data: String, _ request: PutBackRequest, _ context: RestoreContext) throws -> String {
        guard let restoreCommand else {
            throw StageFailure("this command source has no restore_command; its data is in \(data)")
        }
        let input = try ExternalTool.input(data)
        defer { try? input.close() }
        let environment = try childEnvironment(context.secrets)
        let outcome = try ChildProcess.run("/bin/sh", ["-c", restoreCommand], environment: environment, timeout: timeout,
                                           cancellation: context.cancellation, stdin: input) { _ in }
        guard outcome.status == 0 else {
            throw StageFailure("restore_command `\(restoreCommand)` exited with status \(outcome.status)", stderr: outcome.stderr)
        }
        return "ran `\(restoreCommand)` with \(data) on its stdin"
    }
}
