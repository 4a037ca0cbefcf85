import Foundation
import Pipeline

/// `command` source: the standard output of `/bin/sh -c COMMAND`, streamed into the store.
struct CommandSource: StageRunner {
    let version = "1"
    let alwaysRuns = true

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        guard let command = parameters.string("command") else { throw StageFailure("command source without a command") }
        let destination = parameters.string("destination") ?? "output"
        var environment = ProcessInfo.processInfo.environment
        if case .map(let extra)? = parameters["environment"] {
            for (name, value) in extra {
                if case .secret(let secret) = value { environment[name] = try secret.reveal() } else { environment[name] = "\(value)" }
            }
        }
        var limit: TimeInterval?
        if case .int(let seconds)? = parameters["timeout"] { limit = TimeInterval(seconds) }
        let finalEnvironment = environment
        let timeout = limit
        return try await context.blocking {
            let writer = try context.store.makeWriter()
            let outcome = try ChildProcess.run("/bin/sh", ["-c", command], environment: finalEnvironment, timeout: timeout,
                                               cancellation: context.cancellation) { chunk in
                try writer.write(chunk)
                context.progress(writer.count)
            }
            if outcome.timedOut {
                throw StageFailure("`\(command)` did not finish within \(Duration.format(Int(timeout ?? 0))) and was killed",
                                   stderr: outcome.stderr)
            }
            guard outcome.status == 0 else {
                throw StageFailure("`\(command)` exited with status \(outcome.status)", stderr: outcome.stderr)
            }
            return [try writer.finish(location: destination)]
        }
    }
}

/// `30s`, `1h30m`: the same spelling as the config.
enum Duration {
    static func format(_ seconds: Int) -> String {
        guard seconds > 0 else { return "0s" }
        var rest = seconds
        var text = ""
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text
    }
}
