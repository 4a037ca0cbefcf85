import Foundation
import Pipeline
import Stages

/// `polyarchiv apply`: takes the lock, runs the graph with the executor, records point statuses.
public enum Apply {
    public struct Options: Sendable {
        public var selection = RunSelection()
        public var jobs = ProcessInfo.processInfo.activeProcessorCount
        public var lockTimeout: TimeInterval = 0
        /// Transfers at once to one remote host.
        public var transfersPerHost = 2
        /// A Prometheus textfile-collector file written after the run.
        public var metricsFile: String?
        /// What `check` judges, for a monitoring user who may not read the journal (mode 0640, in `statusGroup`).
        public var statusFile: String?
        public var statusGroup: String?
        /// Told the run's id (the journal's) before its first event.
        public var runStarted: @Sendable (Int64) -> Void = { _ in }

        public init() {}
    }

    public struct Report: Sendable {
        public let runID: Int64
        public let results: [NodeResult]
        public let interrupted: Bool
        /// Hooks are reported apart: a failed hook never turns a good backup into a failed one.
        let hooks: Set<StageID>
        /// Why the metrics file could not be written; like a failed hook, it never fails the backups.
        public internal(set) var metricsError: String?
        /// Why the journal does not show the end of a run that failed.
        public internal(set) var journalError: String?

        public var failed: Bool {
            results.contains { !hooks.contains($0.id) && ($0.outcome == .failed || $0.outcome == .blocked) }
        }

        public var hookFailed: Bool {
            metricsError != nil || results.contains { hooks.contains($0.id) && $0.outcome == .failed }
        }

        /// Entries left out of this run's backups because they could not be read.
        public var leftOut: Int { results.reduce(0) { $0 + $1.leftOut } }

        /// 0 all succeeded or skipped, 2 a stage failed, 3 the backups were made but only hooks (or the metrics
        /// file) failed, or entries that could not be read were left out; 130 interrupted.
        public var exitCode: Int32 { interrupted ? 130 : (failed ? 2 : (hookFailed || leftOut > 0 ? 3 : 0)) }

        /// `apply --nrpe`: one status line as a Nagios plugin prints it, and its exit status (0 OK, 1 WARNING
        /// when only hooks failed, 2 CRITICAL when a stage failed or was blocked, 3 UNKNOWN when interrupted).
        public var nagios: (line: String, status: Int32) {
            let bad = results.filter { !hooks.contains($0.id) && ($0.outcome == .failed || $0.outcome == .blocked) }.map(\.id.description)
            let done = results.filter { [.succeeded, .cached].contains($0.outcome) }.count
            let perfdata = " | 'stages_failed'=\(bad.count);;;0; 'stages_done'=\(done);;;0;"
            if interrupted { return ("POLYARCHIV UNKNOWN - the run was interrupted" + perfdata, 3) }
            if !bad.isEmpty { return ("POLYARCHIV CRITICAL - failed: " + bad.joined(separator: ", ") + perfdata, 2) }
            if leftOut > 0 && !hookFailed {
                return ("POLYARCHIV WARNING - the backups were made without \(leftOut) entries that could not be read" + perfdata, 1)
            }
            if hookFailed {
                let hooksFailed = results.filter { hooks.contains($0.id) && $0.outcome == .failed }.map(\.id.description)
                return ("POLYARCHIV WARNING - the backups succeeded; failed: "
                        + (hooksFailed + (metricsError == nil ? [] : ["the metrics or status file"])).joined(separator: ", ") + perfdata, 1)
            }
            return ("POLYARCHIV OK - all backups are valid" + perfdata, 0)
        }
    }

    public static func run(_ pipeline: CompiledPipeline, state: StateDirectory, options: Options, secrets: Secrets,
                           cancellation: CancellationFlag, command: String,
                           events: @escaping @Sendable (ExecutionEvent) -> Void) async throws -> Report {
        let statePath = state.url.standardizedFileURL.path
        for directory in pipeline.ownedDirectories where statePath == directory || statePath.hasPrefix(directory + "/")
            || directory.hasPrefix(statePath + "/") {
            throw StageFailure("the state directory \(statePath) and \(directory), which a stage makes hold only its own data, lie one "
                               + "inside the other; move one of them (nothing was run)")
        }
        try state.create()
        let lock = try RunLock(directory: state.url, timeout: options.lockTimeout)
        defer { withExtendedLifetime(lock) {} }
        let journal = try Journal(path: state.journalPath)
        try journal.closeAbandonedRuns()
        let store = try ContentStore(root: state.storeURL)
        store.removeTemporaryFiles()
        let fingerprinter = try state.fingerprinter()
        let now = pipeline.date
        let presets = RunDecisions.compute(pipeline, journal: journal, selection: options.selection, now: now)
        let runID = try journal.startRun(command: command, at: now)
        options.runStarted(runID)
        let pool = BlockingPool(threads: max(4, options.jobs * 2))
        defer { pool.shutdown() }
        let stagesDirectory = state.url.appendingPathComponent("stages")
        VerifyStage.removeLeftovers(in: stagesDirectory.path)
        let transfers = options.transfersPerHost
        let configuration = Executor.Configuration(jobs: options.jobs) { key in
            key.hasPrefix("host:") ? transfers : 1
        }
        let decider = Decider(store: store, journal: journal, fingerprinter: fingerprinter, secrets: secrets, presets: presets, quick: false)
        func execute() async -> [NodeResult] {
            await Executor(graph: pipeline.graph, decider: decider, store: store, journal: journal, pool: pool, fingerprinter: fingerprinter,
                           configuration: configuration, events: events, cancellation: cancellation, date: now, runID: runID,
                           stateDirectory: stagesDirectory).run()
        }
        var results = await execute()
        // A corrupt object was deleted (or a damaged file forgotten) when found: run again, so it is made anew
        // and its readers get it. A pass can find damage the previous one could not see (a collect point file
        // is read only by the stage after the one that failed), so run while each pass finds something new.
        var found = Set<Digest>()
        for _ in 0..<3 where !cancellation.isCancelled {
            let corrupt = Set(results.compactMap(\.corruptObject))
            guard !corrupt.isSubset(of: found) else { break }
            found.formUnion(corrupt)
            results = await execute()
        }
        ClearText.remove(pipeline, results: results, store: store)
        let interrupted = cancellation.isCancelled
        // The store keeps what every point needs for its next run, no more: local disk stays bounded without gc.
        // A run that added nothing to the store left nothing new to collect.
        if store.addedObjects > 0 { _ = try? GarbageCollector.collect(journal: journal, store: store) }
        let stageFailed = results.contains { result in
            pipeline.graph.node(result.id)?.kind != .notify && (result.outcome == .failed || result.outcome == .blocked)
        }
        let status = interrupted ? "interrupted" : (stageFailed ? "failed" : "succeeded")
        var journalError: String?
        do {
            try recordPoints(pipeline, results: results, journal: journal, date: now)
            try journal.finishRun(runID, status: status, at: Date())
        } catch where stageFailed || interrupted {
            // The run failed already (a full disk under the journal, typically): its status stands, with the reason
            // the journal lags behind it.
            journalError = "the end of the run could not be recorded in the journal: \(Journal.describe(error))"
        }
        let hooks = Set(pipeline.graph.nodes.filter { $0.kind == .notify }.map(\.id))
        var report = Report(runID: runID, results: results, interrupted: interrupted, hooks: hooks)
        report.journalError = journalError
        if let metricsFile = options.metricsFile {
            do {
                try MetricsFile.write(metricsFile, journal: journal, pipeline: pipeline, report: report, date: now)
            } catch {
                report.metricsError = "\(error)"
            }
        }
        if let statusFile = options.statusFile {
            do {
                try Monitoring.writeStatusFile(statusFile, group: options.statusGroup, pipeline: pipeline, journal: journal, date: now)
            } catch {
                report.metricsError = [report.metricsError, "\(error)"].compactMap { $0 }.joined(separator: "; ")
            }
        }
        return report
    }

    /// A collect point succeeded when all its stages did; a backup of one collect point when its upload
    /// (and prune) did. Skipped points are not recorded: their frequency keeps counting from their last run.
    static func recordPoints(_ pipeline: CompiledPipeline, results: [NodeResult], journal: Journal, date: Date) throws {
        let statuses = PointStatuses(journal)
        let byID = Dictionary(uniqueKeysWithValues: results.map { ($0.id, $0) })
        func record(_ kind: PointStatuses.Kind, _ name: String, nodes: [StageNode]) throws {
            let outcomes = nodes.compactMap { byID[$0.id] }
            guard !outcomes.isEmpty, !outcomes.allSatisfy({ $0.outcome == .skipped }) else { return }
            if outcomes.contains(where: { $0.outcome == .interrupted }) {
                try statuses.recordInterruption(kind, name, at: date)
                return
            }
            let failure = outcomes.first { $0.outcome == .failed || $0.outcome == .blocked }
            let duration = outcomes.map(\.duration).reduce(0, +)
            let bytes = outcomes.filter { $0.outcome == .succeeded }.map(\.bytes).reduce(0, +)
            try statuses.record(kind, name, succeeded: failure == nil, at: date, duration: duration, bytes: bytes,
                                error: failure.map { "\($0.id): \($0.detail ?? "failed")" })
        }
        for point in pipeline.collectPoints {
            try record(.collectPoint, point.name, nodes: pipeline.nodes { role in
                switch role {
                case .dump(let cp, _), .collectFilter(let cp, _), .collect(let cp): return cp == point.name
                default: return false
                }
            })
        }
        for point in pipeline.backupPoints {
            var all: [StageNode] = []
            for association in pipeline.associations where association.backupPoint == point.name {
                let nodes = pipeline.nodes { role in
                    switch role {
                    case .upload(let bp, let cp), .prune(let bp, let cp): return bp == point.name && cp == association.collectPoint
                    default: return false
                    }
                }
                all += nodes
                try record(.backup, "\(point.name)/\(association.collectPoint)", nodes: nodes)
                try record(.verify, "\(point.name)/\(association.collectPoint)", nodes: pipeline.nodes { role in
                    role == .verify(backupPoint: point.name, collectPoint: association.collectPoint)
                })
            }
            try record(.backupPoint, point.name, nodes: all)
        }
    }
}
