import Foundation

/// Runs a stage graph: each node, once its inputs have ended, is decided by the `Decider` (the procedure
/// `plan` uses too); the ones that run do so concurrently, bounded by `jobs` and per-resource limits; a
/// failure blocks only what depends on it.
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
    let decider: Decider
    let store: ContentStore
    let journal: Journal
    let pool: BlockingPool
    let configuration: Configuration
    let events: @Sendable (ExecutionEvent) -> Void
    let cancellation: CancellationFlag
    let date: Date
    let runID: Int64
    let stateDirectory: URL
    let fingerprinter: Fingerprinter

    public init(graph: StageGraph, decider: Decider, store: ContentStore, journal: Journal, pool: BlockingPool, fingerprinter: Fingerprinter,
                configuration: Configuration, events: @escaping @Sendable (ExecutionEvent) -> Void,
                cancellation: CancellationFlag, date: Date, runID: Int64, stateDirectory: URL) {
        self.graph = graph
        self.decider = decider
        self.store = store
        self.journal = journal
        self.pool = pool
        self.fingerprinter = fingerprinter
        self.configuration = configuration
        self.events = events
        self.cancellation = cancellation
        self.date = date
        self.runID = runID
        self.stateDirectory = stateDirectory
    }

    private enum Step: Sendable {
        case decided(StageNode, Decision, key: String?, inputs: [StageContext.Input], earlier: [StageID: NodeResult])
        /// `commit`: what is left to do before the journal may record the success (flush, record); the stages
        /// after it start meanwhile.
        case finished(NodeResult, commit: (@Sendable () async -> String?)?)
        /// A success whose bytes could not be made durable or recorded: it failed after all.
        case committed(StageID, failure: String?)
    }

    /// Runs every node once and returns how each ended, in graph order.
    public func run() async -> [NodeResult] {
        let order = (try? graph.topologicalOrder()) ?? graph.nodes
        var results: [StageID: NodeResult] = [:]
        var held: [String: Int] = [:]
        var deciding = Set<StageID>()
        var runnable: [(node: StageNode, key: String?, inputs: [StageContext.Input], earlier: [StageID: NodeResult])] = []
        var running = 0

        await withTaskGroup(of: Step.self) { group in
            func launch() {
                guard !cancellation.isCancelled else { return }
                // Decide every node whose inputs have ended (on the pool: a presence check may ask a server).
                for node in order where results[node.id] == nil && !deciding.contains(node.id)
                    && graph.inputs(of: node.id).allSatisfy({ results[$0.from] != nil }) {
                    deciding.insert(node.id)
                    let inputs = graph.inputs(of: node.id).map { edge in
                        let upstream = results[edge.from]!
                        return (edge: edge, result: upstream)
                    }
                    // Only hooks read what ended before them: other stages need no copy of the results.
                    let earlier = node.kind == .notify ? results : [:]
                    group.addTask { await self.decide(node, inputs, earlier: earlier) }
                }
                // Start what may run now.
                var index = 0
                while index < runnable.count && running < configuration.jobs {
                    let candidate = runnable[index]
                    let free = candidate.node.resourceKeys.allSatisfy { held[$0, default: 0] < configuration.resourceLimit($0) }
                    guard free else {
                        index += 1
                        continue
                    }
                    runnable.remove(at: index)
                    for key in candidate.node.resourceKeys { held[key, default: 0] += 1 }
                    running += 1
                    group.addTask {
                        let (result, commit) = await self.execute(candidate.node, key: candidate.key, inputs: candidate.inputs, earlier: candidate.earlier)
                        return .finished(result, commit: commit)
                    }
                }
            }
            func settle(_ result: NodeResult) {
                results[result.id] = result
                events(.finished(result))
            }
            launch()
            while let step = await group.next() {
                switch step {
                case .decided(let node, let decision, let key, let inputs, let earlier):
                    switch decision {
                    case .run(let reason):
                        if cancellation.isCancelled { break }
                        events(.decided(id: node.id, reason: reason))
                        runnable.append((node, key, inputs, earlier))
                    case .cached(let outputs, _):
                        settle(await record(node, .cached, outputs: outputs, key: key, detail: nil))
                    case .skipped(let reason, let outputs):
                        settle(await record(node, .skipped, outputs: outputs, key: nil, detail: reason))
                    case .blocked(let reason):
                        settle(await record(node, .blocked, outputs: [], key: nil, detail: reason))
                    }
                case .finished(let result, let commit):
                    running -= 1
                    if let node = graph.node(result.id) {
                        for key in node.resourceKeys { held[key, default: 1] -= 1 }
                    }
                    settle(result)
                    if let commit { group.addTask { .committed(result.id, failure: await commit()) } }
                case .committed(let id, let failure):
                    if let failure, let result = results[id] {
                        results[id] = NodeResult(id: id, outcome: .failed, outputs: [], started: result.started, ended: Date(),
                                                 detail: failure)
                        events(.warning(id: id, message: failure))
                    }
                }
                launch()
            }
        }
        // Whatever never started (interrupted run) is reported as interrupted.
        for node in order where results[node.id] == nil {
            results[node.id] = NodeResult(id: node.id, outcome: .interrupted, started: Date(), ended: Date(),
                                          detail: "not started: the run was interrupted")
        }
        return order.compactMap { results[$0.id] }
    }

    private func decide(_ node: StageNode, _ inputs: [(edge: StageEdge, result: NodeResult)], earlier: [StageID: NodeResult]) async -> Step {
        let decider = self.decider
        let upstreams = inputs.map { (edge: $0.edge, upstream: Upstream($0.result)) }
        let (decision, key) = (try? await pool.run { decider.decide(node, upstreams) })
            ?? (.run(reason: "the blocking pool stopped"), nil)
        let contextInputs = inputs.map {
            StageContext.Input(edge: $0.edge, artifacts: $0.result.outputs, outcome: $0.result.outcome, detail: $0.result.detail)
        }
        return .decided(node, decision, key: key, inputs: contextInputs, earlier: earlier)
    }

    /// Records a node that did not run (cached, skipped, blocked).
    private func record(_ node: StageNode, _ outcome: NodeOutcome, outputs: [Artifact], key: String?, detail: String?) async -> NodeResult {
        let now = Date()
        let result = NodeResult(id: node.id, outcome: outcome, outputs: outputs, started: now, ended: now, detail: detail)
        let journal = self.journal, runID = self.runID
        _ = try? await pool.run {
            try journal.recordExecution(run: runID, node: node.id, key: key, state: outcome.rawValue, outputs: outputs,
                                        error: detail, at: now)
        }
        return result
    }

    private func execute(_ node: StageNode, key: String?, inputs: [StageContext.Input], earlier: [StageID: NodeResult]) async
        -> (NodeResult, commit: (@Sendable () async -> String?)?) {
        let started = Date()
        let journal = self.journal
        let runID = self.runID
        func result(_ outcome: NodeOutcome, _ outputs: [Artifact] = [], bytes: Int64 = 0, detail: String? = nil,
                    corrupt: Digest? = nil, leftOut: Int = 0) -> NodeResult {
            NodeResult(id: node.id, outcome: outcome, outputs: outputs, started: started, ended: Date(), bytes: bytes,
                       detail: detail, corruptObject: corrupt, leftOut: leftOut)
        }
        events(.started(id: node.id))
        // What the journal does not record did not happen: a stage whose start cannot be recorded does not run.
        let execution: Int64
        do {
            execution = try await pool.run { try journal.startExecution(run: runID, node: node.id, key: key, at: started) }
        } catch {
            return (result(.failed, detail: "cannot record the stage in the journal \(journal.path): \(Journal.describe(error))"), nil)
        }
        let context = StageContext(
            node: node, inputs: inputs, store: store, journal: journal, pool: pool, cancellation: cancellation, date: date,
            stateDirectory: stateDirectory, fingerprinter: fingerprinter, secrets: decider.secrets,
            reportProgress: { [events] bytes in events(.progress(id: node.id, bytes: bytes)) },
            reportWarning: { [events] message in events(.warning(id: node.id, message: message)) }, earlier: earlier,
            reportChange: { [events] change, path in events(.fileChanged(id: node.id, change: change, path: path)) },
            reportTotal: { [events] bytes in events(.total(id: node.id, bytes: bytes)) })
        let outcome: NodeResult
        do {
            try cancellation.check()
            let outputs = try await node.work.run(context)
            try cancellation.check()
            var finished = result(.succeeded, outputs, bytes: outputs.reduce(0) { $0 + $1.size }, leftOut: context.leftOutCount.value)
            finished.changes = context.changes.value
            let succeeded = finished
            // What it wrote is on disk before the journal says it exists (one flush per file system). The
            // stages after it need not wait for the flush: they read what it wrote from the page cache, and
            // their own records wait for their own flush.
            let places = context.written.all + [store.root.path]
            let pool = self.pool
            return (succeeded, commit: {
                do {
                    try await pool.run { try FileSync.flush(places) }
                } catch {
                    let failure = "what it wrote could not be made durable: \(error)"
                    _ = try? await pool.run {
                        try journal.finishExecution(execution, node: node.id, key: key, state: NodeOutcome.failed.rawValue,
                                                    outputs: [], bytes: 0, error: failure, at: Date())
                    }
                    return failure
                }
                do {
                    try await pool.run {
                        try journal.finishExecution(execution, node: node.id, key: key, state: succeeded.outcome.rawValue,
                                                    outputs: succeeded.outputs, bytes: succeeded.bytes, error: nil, at: succeeded.ended)
                    }
                } catch {
                    return "the stage ran but its result could not be recorded in the journal \(journal.path): \(error); it will run again"
                }
                return nil
            })
        } catch is CancellationFlag.Cancelled {
            outcome = result(.interrupted, detail: "interrupted")
        } catch let error as ContentStore.StoreError where error.damagedObject != nil {
            // The object is gone (deleted as corrupt, or missing): forget every record that promises it, and
            // every other damaged object among the inputs too, so that one more pass makes them all again.
            let digest = error.damagedObject!
            outcome = result(.failed, detail: "\(error)", corrupt: digest)
            let store = self.store
            _ = try? await pool.run {
                let damaged = [digest] + store.damagedObjects(among: inputs.flatMap(\.artifacts))
                if let key { try journal.forgetCache(key: key) }
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
            return (result(.failed, detail: "the stage ran but its result could not be recorded in the journal "
                           + "\(journal.path): \(Journal.describe(error)); it will run again"), nil)
        }
        return (outcome, nil)
    }
}
