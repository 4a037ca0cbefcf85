import ArgumentParser
import Foundation
import Pipeline
import Planner

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Run the backups: dump, collect, ship, prune; only what is due and not already done.",
        discussion: """
            Exit status: 0 everything succeeded or was skipped, 2 a stage failed, 3 only hooks or the metrics file failed, \
            1 configuration error, 64 wrong command line, 75 another apply holds the state directory (see --lock-timeout), \
            130 interrupted.

            Example:
              polyarchiv apply -C /etc/polyarchiv
              polyarchiv apply --force --only-collect-points 'www*' --jobs 4
            """,
        aliases: ["backup"])

    @OptionGroup var config: ConfigOptions
    @OptionGroup var state: StateOptions

    @OptionGroup var scope: SelectionOptions

    @Flag(help: "Show the plan and run nothing: the same as `polyarchiv plan` (JSON with --json).")
    var dryRun = false

    @OptionGroup var running: RunOptions

    func run() async throws {
        let pipeline = try running.compile(config)
        let selection = try scope.selection(for: pipeline)
        if dryRun {
            let plan = Plan.make(pipeline, state: state.directory(for: pipeline), selection: selection, secrets: config.secrets)
            Terminal.print(running.json ? PlanRenderer.json(plan) : PlanRenderer.text(plan))
            return
        }
        try await running.run(pipeline, config: config, state: state, selection: selection)
    }
}

/// How a run is shown and bounded: shared by `apply` and `verify`.
struct RunOptions: ParsableArguments {
    @Option(help: "Stages that may run at once (default: the number of cores).")
    var jobs: Int?

    @Flag(help: "Print one JSON event per line.")
    var json = false

    @Flag(help: "Print only one Nagios status line at the end (OK, WARNING when only hooks failed, CRITICAL), with its exit status.")
    var nrpe = false

    @Flag(name: [.customShort("q"), .long], help: "Print only warnings and failures (and the summary when something went wrong): cron mails only on trouble.")
    var quiet = false

    @Flag(name: .customShort("v"), help: "More detail: -v says why each stage runs and lists the files each source found new, changed or removed; -vv also prints a progress line every 5 seconds for long stages.")
    var verbosity: Int

    @Flag(help: "After the summary, statistics: each source's files (new, changed, unchanged, removed) and bytes read, each collect point's bytes written, each backup point's bytes sent.")
    var stats = false

    @Option(help: "Also append the run's log to this file.")
    var logFile: String?

    @Option(help: ArgumentHelp("After the run, write every point's state to this file for node_exporter's textfile collector.",
                               valueName: "path"))
    var metricsFile: String?

    @Option(help: ArgumentHelp("After the run, write what `check` judges to this file (mode 0640), for a monitoring user who may not read the journal: `check --status-file FILE`.",
                               valueName: "path"))
    var statusFile: String?

    @Option(help: ArgumentHelp("The group the status file belongs to (the monitoring user's, such as nagios).", valueName: "group"))
    var statusGroup: String?

    @Option(help: "Wait this many seconds for another apply to finish (default: fail at once).")
    var lockTimeout: Double = 0

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if verbosity > 0 && quiet { throw ValidationError("-q and -v say opposite things: give one") }
        if statusGroup != nil && statusFile == nil { throw ValidationError("--status-group goes with --status-file") }
    }

    /// The configuration compiled; with --nrpe an invalid one is the plugin's UNKNOWN.
    func compile(_ config: ConfigOptions) throws -> CompiledPipeline {
        do {
            return try config.compile()
        } catch let exit as ExitCode where nrpe {
            _ = exit
            Terminal.print("POLYARCHIV UNKNOWN - the configuration is invalid (run polyarchiv validate)\n")
            throw ExitCode(3)
        }
    }

    func run(_ pipeline: CompiledPipeline, config: ConfigOptions, state: StateOptions, selection: RunSelection) async throws {
        var log: FileHandle?
        if let logFile {
            // Created 0600, appended to, never through a link or into a FIFO.
            let descriptor = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o600)
            guard descriptor >= 0 else {
                Terminal.error("polyarchiv: cannot write the log file \(logFile): \(String(cString: strerror(errno)))")
                throw ExitCode(1)
            }
            log = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        }
        let style: RunOutput.Style = json ? .json : (isatty(STDOUT_FILENO) == 1 ? .terminal : .plain)
        let nrpe = self.nrpe
        let output = RunOutput(style: style, logFile: log, quiet: quiet, verbosity: verbosity, stats: stats) { if !nrpe { Terminal.print($0) } }
        let cancellation = CancellationFlag()
        SignalWatcher.install(cancelling: cancellation)
        var options = Apply.Options()
        options.selection = selection
        if let jobs { options.jobs = jobs }
        options.lockTimeout = lockTimeout
        options.metricsFile = metricsFile
        options.statusFile = statusFile
        options.statusGroup = statusGroup
        options.runStarted = { output.started(run: $0) }
        let report: Apply.Report
        do {
            report = try await Apply.run(pipeline, state: state.directory(for: pipeline), options: options, secrets: config.secrets, cancellation: cancellation,
                                                 command: CommandLine.arguments.joined(separator: " ")) { output.handle($0) }
        } catch let locked as RunLock.Locked {
            Terminal.error("polyarchiv: \(locked)")
            throw ExitCode(ExitStatus.locked)
        } catch let failure as StageFailure {
            Terminal.error("polyarchiv: \(failure)")
            throw ExitCode(1)
        }
        output.summary(report)
        if nrpe {
            let (line, status) = report.nagios
            Terminal.print(line.replacingOccurrences(of: "\n", with: " ") + "\n")
            if status != 0 { throw ExitCode(status) }
            return
        }
        if let metricsError = report.metricsError { Terminal.error("polyarchiv: \(metricsError)") }
        if let journalError = report.journalError { Terminal.error("polyarchiv: \(journalError)") }
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}
