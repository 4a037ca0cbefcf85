import ArgumentParser
import Stages

@main
struct Polyarchiv: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "polyarchiv",
        abstract: "Back up files and databases into collect points, and ship them to backup points.",
        discussion: """
            The configuration (YAML) says what to back up and where; `plan` shows what a run would do, \
            `validate` checks the configuration, `graph` draws the stage graph.

            Example:
              polyarchiv validate -c /etc/polyarchiv/site.yaml
              polyarchiv plan -C /etc/polyarchiv
              polyarchiv apply -C /etc/polyarchiv
            """,
        version: "polyarchiv \(version) (\(LibraryVersions.summary))",
        subcommands: [ValidateCommand.self, PlanCommand.self, ApplyCommand.self, CheckCommand.self, GraphCommand.self, EnginesCommand.self, GarbageCollectCommand.self,
                      ListCommand.self, LsCommand.self, FindCommand.self, DiffCommand.self, RestoreCommand.self, VerifyCommand.self, RepairCommand.self, ImportIniCommand.self, KeygenCommand.self, InitCommand.self, PruneCommand.self])

    /// `--version` alone also lists the programs polyarchiv runs (asked only then: it starts each of them).
    static func main() async {
        if Array(CommandLine.arguments.dropFirst()) == ["--version"] {
            print(configuration.version)
            for line in ToolVersions.lines { print("  " + line) }
            return
        }
        await main(nil)
    }
}
