import ArgumentParser
import Pipeline
import Planner

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check the configuration and print it resolved, secrets masked.",
        discussion: """
            Every problem is reported with file:line:column; the exit status is 1 when there is one. \
            --check-access then tries each source's server and credentials and reads each backup point's listing, \
            writing nothing; the exit status is 2 when one cannot be reached.

            Example:
              polyarchiv validate -c pipelines/demo.yaml
              polyarchiv validate -q --check-access -C /etc/polyarchiv
            """,
        aliases: ["config"])

    @OptionGroup var config: ConfigOptions

    @Flag(name: .shortAndLong, help: "Print nothing when the configuration is valid.")
    var quiet = false

    @Flag(help: "Also try each source's server and credentials and each backup point's connection (its listing), writing nothing.")
    var checkAccess = false

    func run() throws {
        let pipeline = try config.compile()
        for warning in pipeline.warnings {
            Terminal.error(warning.description.replacingOccurrences(of: ": error: ", with: ": warning: "))
        }
        if !quiet { Terminal.print(ResolvedConfigRenderer.yaml(pipeline)) }
        guard checkAccess else { return }
        let lines: [AccessCheck.Line]
        do {
            lines = try AccessCheck.run(pipeline, secrets: config.secrets)
        } catch {
            Terminal.error("polyarchiv: \(error)")
            throw ExitCode(ExitStatus.failed)
        }
        for line in lines {
            if let failure = line.failure {
                // One line: what failed, and the tool's own first word on why (psql: password authentication failed…).
                let parts = failure.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                Terminal.error("polyarchiv: \(line.what): " + parts.prefix(2).joined(separator: ": "))
            } else if !quiet {
                Terminal.print("ok: \(line.what): \(line.detail)\n")
            }
        }
        if lines.contains(where: { $0.failure != nil }) { throw ExitCode(ExitStatus.failed) }
    }
}
