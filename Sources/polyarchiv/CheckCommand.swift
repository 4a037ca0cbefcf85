import ArgumentParser
import Foundation
import Pipeline
import Planner
import Stages

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Monitoring: OK, WARNING (overdue), CRITICAL (failed or never ran), UNKNOWN, from the journal.",
        discussion: """
            Exit status follows the Nagios plugin guidelines: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. \
            The first line is the status with performance data; without --nrpe, one line per point follows.

            Example:
              polyarchiv check --nrpe -C /etc/polyarchiv
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var state: StateOptions

    @Flag(help: "Print only the status line (for NRPE).")
    var nrpe = false

    @Flag(help: "Print the report as JSON (the exit status is the same).")
    var json = false

    @Option(help: ArgumentHelp("Judge from the status file `apply --status-file` writes, not the journal: for a monitoring user (nagios) in the file's group; needs no configuration.",
                               valueName: "path"))
    var statusFile: String?

    @Flag(help: "Judge freshness from the backups the backup points hold (their metadata documents, commits, snapshots), not the local journal: one machine with the configurations watches every host.")
    var fromBackupPoints = false

    @Option(help: ArgumentHelp("With --from-backup-points: whose backups (default: this host).", valueName: "name"))
    var host: String?

    @Option(help: ArgumentHelp("With --from-backup-points: how old the newest backup may be (26h, 8d; default: one period of the frequency and an hour, 26h for always).",
                               valueName: "duration"))
    var maxAge: String?

    func validate() throws {
        if statusFile != nil && fromBackupPoints { throw ValidationError("--status-file and --from-backup-points are two sources: give one") }
        if !fromBackupPoints && (host != nil || maxAge != nil) { throw ValidationError("--host and --max-age go with --from-backup-points") }
        if let maxAge, TimeSpan.parse(maxAge) == nil { throw ValidationError("--max-age takes a duration such as 26h or 8d, not `\(maxAge)`") }
    }

    struct JSONPoint: Encodable {
        let name: String
        let status: String
        let message: String
        let ageSeconds: Int?
        enum CodingKeys: String, CodingKey { case name, status, message, ageSeconds = "age_seconds" }
    }

    struct JSONReport: Encodable {
        let status: String
        let points: [JSONPoint]
    }

    func run() throws {
        let now = Date()
        if let statusFile {
            do {
                try show(try Monitoring.check(statusFile: statusFile, now: now))
            } catch let failure as StageFailure {
                Terminal.print("POLYARCHIV UNKNOWN - \(failure)\n")
                throw ExitCode(3)
            }
            return
        }
        let pipeline: CompiledPipeline
        do {
            pipeline = try config.compile()
        } catch {
            Terminal.print("POLYARCHIV UNKNOWN - the configuration is invalid (run polyarchiv validate)\n")
            throw ExitCode(3)
        }
        let report = fromBackupPoints
            ? Monitoring.checkFromBackupPoints(pipeline, host: host, maxAge: maxAge.flatMap(TimeSpan.parse).map { $0.after(now, calendar: .current).timeIntervalSince(now) },
                                               secrets: config.secrets, now: now)
            : Monitoring.check(pipeline, state: state.directory(for: pipeline), now: now)
        try show(report)
    }

    private func show(_ report: Monitoring.Report) throws {
        if json {
            Terminal.print(JSONText.encode(JSONReport(status: report.status.label, points: report.points.map {
                JSONPoint(name: $0.name, status: $0.status.label, message: $0.message, ageSeconds: $0.age.map { Int($0) })
            })))
            if report.status != .ok { throw ExitCode(report.status.rawValue) }
            return
        }
        var text = report.statusLine + "\n"
        if !nrpe {
            for point in report.points { text += "\(point.status.label): \(point.name): \(point.message)\n" }
        }
        Terminal.print(text)
        if report.status != .ok { throw ExitCode(report.status.rawValue) }
    }
}

struct GarbageCollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Drop store objects that no journal entry needs.",
        discussion: """
            Keeps what the newest successful run of every stage produced. The state directory is found as
            for apply: --state-dir, $POLYARCHIV_STATE_DIR, the configuration's state_dir (read when -c/-C is
            given or the default directory exists), else the default.

            Example:
              polyarchiv gc --state-dir /var/lib/polyarchiv
            """)

    @OptionGroup var state: StateOptions
    @OptionGroup var config: ConfigOptions

    @Option(name: .customLong("forget-backups"), help: ArgumentHelp(
        "Forget what this host recorded at this backup point, whose backups were removed on purpose (repeatable).",
        valueName: "backup-point"))
    var forgetBackups: [String] = []

    func run() throws {
        let result: GarbageCollector.Result
        do {
            let directory = StateDirectory(state.path, configured: try config.configuredStateDirectory())
            result = try GarbageCollector.run(state: directory, forgettingBackupsOf: forgetBackups)
        } catch let locked as RunLock.Locked {
            Terminal.error("polyarchiv: \(locked)")
            throw ExitCode(ExitStatus.locked)
        } catch let failure as StageFailure {
            Terminal.error("polyarchiv: \(failure)")
            throw ExitCode(1)
        }
        for (backupPoint, count) in result.forgottenBackups {
            Terminal.print("forgot \(count) backup(s) recorded at \(backupPoint); its next apply starts a new history\n")
        }
        Terminal.print("removed \(result.removed) object(s), \(RunOutput.bytes(result.freed)) freed; \(result.kept) kept; "
                       + "forgot \(result.forgottenExecutions) stage execution(s) older than the last 100 runs\n")
    }
}
