import ArgumentParser
import Planner

struct GraphCommand: ParsableCommand {
    enum Format: String, ExpressibleByArgument, CaseIterable { case dot, json }

    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Print the stage graph as Graphviz dot or JSON.",
        discussion: """
            One cluster per collect point and per backup point; edges say what flows.

            Example:
              polyarchiv graph -c pipelines/website.yaml | dot -Tsvg > website.svg
            """)

    @OptionGroup var config: ConfigOptions

    @Option(help: "Output format: dot or json.")
    var format: Format = .dot

    func run() throws {
        let pipeline = try config.compile()
        Terminal.print(format == .dot ? GraphRenderer.dot(pipeline) : GraphRenderer.json(pipeline))
    }
}
