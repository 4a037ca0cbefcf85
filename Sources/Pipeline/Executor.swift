import Foundation

/// What the caller decided for a node before the run: run it, or skip it (frequency, --only, --skip).
public enum NodeDecision: Sendable, Equatable {
    case run
    /// Skipped; when `reuseLastOutputs`, its outputs are those of its newest successful run
    /// (a collect point that is not due still ships what it holds).
    case skip(reason: String, reuseLastOutputs: Bool)
}

/// Runs a stage graph: ready nodes run concurrently (bounded by `jobs` and per-resource limits), a node
/// whose cache key is done is skipped, a failure blocks only what depends on it.
public final class Executor: Sendable {
    public struct Configuration: Sendable {
        public var jobs: Int
        /// How many stages may hold a resource key at once.
        public var resourceLimit: @Sendable (String) -> Int

        public init(jobs: Int, resourceLimit: @escaping @Sendable (String) -> Int) {
            self.jobs = max(1, jobs)
            self.resourceLimit = resourceLimit
        }
    }

    let graph: StageGraph
    let store: ContentStore
    let journal: Journal
    let pool: BlockingPool
    let fingerprinter: Fingerprinter
    let runners: @Sendable (StageNode) -> (any StageRunner)?
    let decisions: [String: NodeDecision]
    let configuration: Configuration
    let events: @Sendable (ExecutionEvent) -> Void
    let cancellation: CancellationFlag
    let date: Date
    let runID: Int64
    let stateDirectory: URL

    public init(graph: StageGraph, store: ContentStore, journal: Journal, pool: BlockingPool, fingerprinter: Fingerprinter,
                runners: @escaping @Sendable (StageNode) -> (any StageRunner)?, decisions: [String: NodeDecision],
                configuration: Configuration, events: @escaping @Sendable (ExecutionEvent) -> Void,
                cancellation: CancellationFlag, date: Date, runID: Int64, stateDirectory: URL) {
        self.graph = graph
        self.store = store
        self.journal = journal
        self.pool = pool
        self.fingerprinter = fingerprinter
        self.runners = runners
        self.decisions = decisions
        self.configuration = configuration
        self.events = events
        self.cancellation = cancellation
        self.date = date
        self.runID = runID
        self.stateDirectory = stateDirectory
    }

    /// Runs every node once and returns how each ended, in graph order.
    public func run() async -> [NodeResult] {
        let order = (try? graph.topologicalOrder()) ?? graph.nodes
        var results: [String: NodeResult] = [:]
        var held: [String: Int] = [:]
        var running = Set<String>()

        func inputsFinished(_ node: StageNode) -> Bool {
            graph.inputs(of: node.id).allSatisfy { results[$0.from] != nil }
        }

        /// Settles nodes that need no task (skipped, blocked), and returns the ones to launch.
        func collectReady() -> [StageNode] {
            var launch: [StageNode] = []
            var changed = true
            while changed {
                changed = false
                for node in order where results[node.id] == nil && !running.contains(node.id) && inputsFinished(node) {
                    if let settled = settleWithoutRunning(node, results) {
                        results[node.id] = settled
                        record(settled, node: node)
                        events(.finished(settled))
                        changed = true
                    } else if !launch.contains(where: { $0.id == node.id }) {
                        launch.append(node)
                    }
                }
            }
            return launch
        }

        await withTaskGroup(of: NodeResult.self) { group in
            func launch() {
                guard !cancellation.isCancelled else { return }
                for node in collectReady() where running.count < configuration.jobs {
                    let free = node.resourceKeys.allSatisfy { held[$0, default: 0] < configuration.resourceLimit($0) }
                    guard free else { continue }
                    for key in node.resourceKeys { held[key, default: 0] += 1 }
                    running.insert(node.id)
                    let inputs = graph.inputs(of: node.id).map {
                        StageContext.Input(edge: $0, artifacts: results[$0.from]?.outputs ?? [], outcome: results[$0.from]?.outcome,
                                           detail: results[$0.from]?.detail)
                    }
                    group.addTask { await self.execute(node, inputs: inputs) }
                }
            }
            launch()
            while let result = await group.next() {
                running.remove(result.id)
                results[result.id] = result
                if let node = graph.node(result.id) {
                    for key in node.resourceKeys { held[key, default: 1] -= 1 }
                }
                events(.finished(result))
                launch()
            }
        }
        // Whatever never started (interrupted run) is reported as interrupted.
        for node in order where results[node.id] == nil {
            let result = NodeResult(id: node.id, outcome: .interrupted, outputs: [], started: Date(), ended: Date(), bytes: 0,
                                    detail: "not started: the run was interrupted", corruptObject: nil)
            results[node.id] = result
        }
        return order.compactMap { results[$0.id] }
    }

    /// A node that does not need to run: skipped by decision, or blocked by a failed input.
    private func settleWithoutRunning(_ node: StageNode, _ results: [String: NodeResult]) -> NodeResult? {
        let now = Date()
        let inputs = graph.inputs(of: node.id).compactMap { results[$0.from] }
        if case .skip(let reason, let reuse)? = decisions[node.id] {
            let outputs = reuse ? ((try? journal.lastOutputs(node: node.id)) ?? nil) ?? [] : []
            return NodeResult(id: node.id, outcome: .skipped, outputs: outputs, started: now, ended: now, bytes: 0,
                              detail: reason, corruptObject: nil)
        }
        if !node.runsAfterFailure, let failed = inputs.first(where: { $0.outcome.isFailure }) {
            // Name the first stage that failed and why, so a hook or a summary line tells the whole story.
            let cause = failed.outcome == .blocked ? (failed.detail ?? "blocked by \(failed.id)")
                : "blocked by \(failed.id)" + (failed.detail.flatMap { $0.split(separator: "\n").first }.map { " (\($0))" } ?? "")
            return NodeResult(id: node.id, outcome: .blocked, outputs: [], started: now, ended: now, bytes: 0,
                              detail: cause, corruptObject: nil)
        }
        if !node.runsAfterFailure, let empty = inputs.first(where: { $0.outcome == .skipped && $0.outputs.isEmpty }) {
            return NodeResult(id: node.id, outcome: .blocked, outputs: [], started: now, ended: now, bytes: 0,
                              detail: "blocked: \(empty.id) was skipped and has never produced anything", corruptObject: nil)
        }
        return nil
    }

    private func record(_ result: NodeResult, node: StageNode) {
        try? journal.recordExecution(run: runID, node: node.id, key: nil, state: result.outcome.rawValue, outputs: result.outputs,
                                     error: result.detail, at: result.ended)
    }

    /// Journal writes are blocking SQLite calls (with an fsync): they go to the pool like other blocking work.
    private func journaled<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> T? {
        try? await pool.run(body)
    }

    private func execute(_ node: StageNode, inputs: [StageContext.Input]) async -> NodeResult {
        let started = Date()
        let journal = self.journal
        let runID = self.runID
        func result(_ outcome: NodeOutcome, _ outputs: [Artifact] = [], bytes: Int64 = 0, detail: String? = nil,
                    corrupt: Digest? = nil) -> NodeResult {
            NodeResult(id: node.id, outcome: outcome, outputs: outputs, started: started, ended: Date(), bytes: bytes,
                       detail: detail, corruptObject: corrupt)
        }
        func recordNotRun(_ result: NodeResult, key: String?) async -> NodeResult {
            _ = await journaled {
                try journal.recordExecution(run: runID, node: node.id, key: key, state: result.outcome.rawValue,
                                            outputs: result.outputs, error: result.detail, at: result.ended)
            }
            return result
        }
        guard let runner = runners(node) else {
            return await recordNotRun(result(.failed, detail: "engine \(node.engine) is not implemented yet (\(node.kind.rawValue) stage)"),
                                      key: nil)
        }
        let key: String
        do {
            key = try CacheKey.compute(node: node, version: runner.version, inputs: inputs, fingerprinter: fingerprinter)
        } catch {
            return await recordNotRun(result(.failed, detail: "\(error)"), key: nil)
        }
        if !runner.alwaysRuns, let cached = await journaled({ try journal.cachedOutputs(key: key) }), let outputs = cached,
           await journaled({ self.outputsPresent(outputs) && runner.isStillInPlace(node, outputs: outputs, journal: journal, store: self.store) }) == true {
            return await recordNotRun(result(.cached, outputs), key: key)
        }
        events(.started(id: node.id, kind: node.kind))
        // What the journal does not record did not happen: a stage whose start cannot be recorded does not run.
        let execution: Int64
        do {
            execution = try await pool.run { try journal.startExecution(run: runID, node: node.id, key: key, at: started) }
        } catch {
            return result(.failed, detail: "cannot record the stage in the journal \(journal.path): \(error)")
        }
        let context = StageContext(
            node: node, inputs: inputs, store: store, journal: journal, pool: pool, cancellation: cancellation, date: date,
            stateDirectory: stateDirectory, fingerprinter: fingerprinter, reportProgress: { [events] bytes in events(.progress(id: node.id, bytes: bytes)) },
            reportWarning: { [events] message in events(.warning(id: node.id, message: message)) })
        let outcome: NodeResult
        do {
            try cancellation.check()
            let outputs = try await runner.run(context)
            try cancellation.check()
            outcome = result(.succeeded, outputs, bytes: outputs.reduce(0) { $0 + $1.size })
        } catch is CancellationFlag.Cancelled {
            outcome = result(.interrupted, detail: "interrupted")
        } catch let error as ContentStore.StoreError where error.damagedObject != nil {
            // The object is gone (deleted as corrupt, or missing): forget every record that promises it, so
            // the next pass makes it again.
            // Every other damaged object among its inputs goes too, so that one more pass makes them all again.
            let digest = error.damagedObject!
            outcome = result(.failed, detail: "\(error)", corrupt: digest)
            let store = self.store
            _ = await journaled {
                let damaged = [digest] + store.damagedObjects(among: inputs.flatMap(\.artifacts))
                try journal.forgetCache(key: key)
                for object in Set(damaged) { try journal.forget(digest: object) }
            }
        } catch {
            outcome = result(cancellation.isCancelled ? .interrupted : .failed, detail: "\(error)")
        }
        do {
            try await pool.run {
                try journal.finishExecution(execution, node: node.id, key: key, state: outcome.outcome.rawValue,
                                            outputs: outcome.outputs, bytes: outcome.bytes, error: outcome.detail, at: outcome.ended)
            }
        } catch {
            return result(.failed, detail: "the stage ran but its result could not be recorded in the journal "
                          + "\(journal.path): \(error); it will run again")
        }
        return outcome
    }

    /// Cached outputs count only while the store still holds them (a tree: its manifest and every blob).
    private func outputsPresent(_ outputs: [Artifact]) -> Bool {
        outputs.allSatisfy { artifact in
            switch artifact.kind {
            case .remote: return true
            case .blob: return store.size(of: artifact.digest) == artifact.size
            case .tree:
                // The manifest only: a blob that went missing since is found when it is read, and made again.
                return store.contains(artifact.digest)
            }
        }
    }
}
