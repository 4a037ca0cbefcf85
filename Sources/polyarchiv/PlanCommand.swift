import ArgumentParser
import Planner

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show every stage a run would execute, and its state, without running anything.",
        discussion: """
            States: run, cached, skip (frequency: next due …), blocked. No dump, upload or hook runs. \
            With --detailed-exitcode: 0 when nothing is to do, 2 when work is pending, 1 on error.

            Example:
              polyarchiv plan -c pipelines/demo.yaml --format json
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var scope: SelectionOptions

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Flag(help: "Exit 2 when work is pending, 0 when there is nothing to do.")
    var detailedExitcode = false

    func run() throws {
        let pipeline = try config.compile()
        let plan = Plan.make(pipeline, state: state.directory(for: pipeline), selection: try scope.selection(for: pipeline), secrets: config.secrets)
        Terminal.print(format == .json ? PlanRenderer.json(plan) : PlanRenderer.text(plan))
        if detailedExitcode && plan.pendingCount > 0 { throw ExitCode(2) }
    }
}
