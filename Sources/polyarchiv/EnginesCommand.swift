import ArgumentParser
import Planner

struct EnginesCommand: ParsableCommand {
    enum Format: String, ExpressibleByArgument, CaseIterable { case text, markdown }

    static let configuration = CommandConfiguration(
        commandName: "engines",
        abstract: "List every engine; with -v, their parameters, types, defaults and documentation.",
        discussion: """
            Example:
              polyarchiv engines -v
            """,
        aliases: ["plugins"])

    @Flag(name: .shortAndLong, help: "Show every parameter.")
    var verbose = false

    @Option(help: "text, or markdown (the README's configuration reference).")
    var format: Format = .text

    func run() throws {
        Terminal.print(format == .markdown ? EngineDocs.markdown() + "\n" : EngineDocs.text(verbose: verbose))
    }
}
