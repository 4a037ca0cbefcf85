import ArgumentParser
import Planner

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check the configuration and print it resolved, secrets masked.",
        discussion: """
            Every problem is reported with file:line:column; the exit status is 1 when there is one.

            Example:
              polyarchiv validate -c pipelines/demo.yaml
            """,
        aliases: ["config"])

    @OptionGroup var config: ConfigOptions

    @Flag(name: .shortAndLong, help: "Print nothing when the configuration is valid.")
    var quiet = false

    func run() throws {
        let pipeline = try config.compile()
        for warning in pipeline.warnings {
            Terminal.error(warning.description.replacingOccurrences(of: ": error: ", with: ": warning: "))
        }
        if !quiet { Terminal.print(ResolvedConfigRenderer.yaml(pipeline)) }
    }
}
