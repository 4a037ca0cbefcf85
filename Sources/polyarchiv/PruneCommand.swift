import ArgumentParser
import Pipeline
import Planner

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Apply the retention (keep:) of backup points now, whatever their delete: says.",
        discussion: """
            For backup points whose hosts only add (`delete: never`: their credentials cannot delete), run this \
            where deleting is allowed, with the same configuration and credentials that may delete. It deletes \
            what `plan` and `apply` announced: the expired backups of --host (this host by default) that its \
            journal recorded or whose names carry its name, in the backup point's own directory; the metadata \
            document is rewritten first. --dry-run lists them and deletes nothing.
            Exit status: 0 done (or nothing to delete), 2 a backup point could not be pruned, 1 configuration error.

            Example:
              polyarchiv prune -c /etc/polyarchiv/prune-web1.yaml --host web1 offsite
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var state: StateOptions

    @Option(help: "Only the backups of this collect point.")
    var collectPoint: String?

    @Option(help: "Whose backups: this host by default.")
    var host: String?

    @Flag(help: "List what would be deleted, delete nothing.")
    var dryRun = false

    @Argument(help: "The backup points to prune (default: every one with retention).")
    var backupPoints: [String] = []

    func run() throws {
        let pipeline = try config.compile()
        let outcomes: [Prune.Outcome]
        do {
            outcomes = try Prune.run(pipeline, backupPoints: backupPoints, collectPoint: collectPoint, host: host, dryRun: dryRun,
                                     state: state.directory(for: pipeline), secrets: config.secrets)
        } catch let failure as StageFailure {
            Terminal.error("polyarchiv: \(failure)")
            throw ExitCode(ExitStatus.configuration)
        }
        var text = ""
        for outcome in outcomes {
            text += "\(outcome.pair):\n" + (outcome.lines.isEmpty && outcome.failure == nil ? "  nothing to delete\n" : "")
                + outcome.lines.map { "  " + TerminalText.escaped($0) + "\n" }.joined()
            if let failure = outcome.failure { text += "  FAILED: \(TerminalText.escaped(failure))\n" }
        }
        if outcomes.isEmpty { text = "no backup point with retention (keep:) receives these collect points\n" }
        Terminal.print(text)
        if outcomes.contains(where: { $0.failure != nil }) { throw ExitCode(ExitStatus.failed) }
    }
}
