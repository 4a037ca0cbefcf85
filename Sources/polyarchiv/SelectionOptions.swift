import ArgumentParser
import Planner

/// What a run covers: the same options for `apply` and `plan` (and `apply --dry-run`).
struct SelectionOptions: ParsableArguments {
    @Flag(help: "Run every point, whatever its frequency.")
    var force = false

    @OptionGroup var points: PointOptions

    @Flag(help: "Do not collect: ship what the collect points already hold.")
    var skipCollect = false

    @Flag(help: "Collect only: ship nothing.")
    var skipBackup = false

    func validate() throws {
        if skipCollect && skipBackup { throw ValidationError("--skip-collect and --skip-backup together leave nothing to do") }
    }

    /// The selection, checked against the pipeline: a glob that matches no point exits 1.
    func selection(for pipeline: CompiledPipeline) throws -> RunSelection {
        try points.checked(RunSelection(force: force, onlyCollectPoints: points.onlyCollectPoints, onlyBackupPoints: points.onlyBackupPoints,
                                        skipCollect: skipCollect, skipBackup: skipBackup), pipeline)
    }
}

/// `--only-collect-points` and `--only-backup-points`: for apply, plan and verify.
struct PointOptions: ParsableArguments {
    @Option(name: .customLong("only-collect-points"), parsing: .upToNextOption,
            help: "Only these collect points (globs on names and tags).")
    var onlyCollectPoints: [String] = []

    @Option(name: .customLong("only-backup-points"), parsing: .upToNextOption,
            help: "Only these backup points (globs on names and tags).")
    var onlyBackupPoints: [String] = []

    /// `selection`, checked against the pipeline: a glob that matches no point exits 1.
    func checked(_ selection: RunSelection, _ pipeline: CompiledPipeline) throws -> RunSelection {
        do {
            try selection.check(pipeline)
        } catch {
            Terminal.error("polyarchiv: \(error)")
            throw ExitCode(ExitStatus.configuration)
        }
        return selection
    }
}
