import ArgumentParser
import Pipeline
import Planner

struct RepairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Rebuild a backup point's damaged metadata document from what the backup point holds.",
        discussion: """
            For each collect point the backup point receives (or --collect-point): when this host's metadata \
            document cannot be read as one, every backup this host's journal recorded there, and every location the \
            damaged document still names, is read back and hashed; those that match (or that nothing contradicts, \
            said to be unvouched for) are written into a new document, and the damaged one is kept beside it as \
            NAME.damaged-DATE. A sound document is left as it is.
            Exit status: 0 repaired or nothing to repair, 2 a document could not be rebuilt, 1 configuration error, \
            75 another run holds the state directory.

            Example:
              polyarchiv repair -C /etc/polyarchiv offsite
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var state: StateOptions

    @Option(help: "Only the document of this collect point.")
    var collectPoint: String?

    @Argument(help: "The backup point whose documents to repair.")
    var backupPoint: String

    func run() throws {
        let pipeline = try config.compile()
        let outcomes: [Repair.Outcome]
        do {
            outcomes = try Repair.run(pipeline, backupPoint: backupPoint, collectPoint: collectPoint, state: state.directory(for: pipeline),
                                      secrets: config.secrets)
        } catch let failure as StageFailure {
            Terminal.error("polyarchiv: \(failure)")
            throw ExitCode(ExitStatus.configuration)
        }
        var text = ""
        for outcome in outcomes {
            text += "\(outcome.pair):\n" + outcome.lines.map { "  " + TerminalText.escaped($0) + "\n" }.joined()
            if let failure = outcome.failure { text += "  FAILED: \(TerminalText.escaped(failure))\n" }
        }
        Terminal.print(text)
        if outcomes.contains(where: { $0.failure != nil }) { throw ExitCode(ExitStatus.failed) }
    }
}
