import ArgumentParser
import Planner

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the newest backup at every backup point now, whatever verify_frequency says; back up nothing.",
        discussion: """
            For each backup point with `verify` on (the default), the newest backup this host made of each collect \
            point: an archive is downloaded and checked against its recorded SHA-256, then opened (every filter this \
            host can undo) and its hashes index checked against the files; a git remote is cloned and checked with \
            git fsck --full; a restic repository with restic check --read-data-subset (`read_data_subset`, 5% by \
            default). The results go to the journal, `check`, the metrics file and the hooks (`verify_error`). \
            `apply` runs the same step at `verify_frequency` (weekly by default).
            Exit status: 0 verified, 2 a verification failed, 3 only hooks or the metrics file failed, 1 configuration error, \
            75 another run holds the state directory, 130 interrupted.

            Example:
              polyarchiv verify -C /etc/polyarchiv
              polyarchiv verify -C /etc/polyarchiv --only-backup-points offsite --nrpe
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var state: StateOptions

    @OptionGroup var points: PointOptions

    @OptionGroup var running: RunOptions

    func run() async throws {
        let pipeline = try running.compile(config)
        var selection = try points.checked(RunSelection(onlyCollectPoints: points.onlyCollectPoints,
                                                        onlyBackupPoints: points.onlyBackupPoints), pipeline)
        selection.verifyOnly = true
        try await running.run(pipeline, config: config, state: state, selection: selection)
    }
}
