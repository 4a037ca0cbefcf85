import Foundation
import Pipeline
import Stages

/// What `plan` promises for one stage.
public enum StageState: Sendable, Equatable, CustomStringConvertible {
    case run
    case cached
    case skip(String)
    case blocked(String)

    public var description: String {
        switch self {
        case .run: return "run"
        case .cached: return "cached"
        case .skip(let why): return "skip (\(why))"
        case .blocked(let why): return "blocked (\(why))"
        }
    }

    public var keyword: String {
        switch self {
        case .run: return "run"
        case .cached: return "cached"
        case .skip: return "skip"
        case .blocked: return "blocked"
        }
    }
}

/// A pipeline with a state for every stage.
public struct Plan: Sendable {
    public let pipeline: CompiledPipeline
    public let states: [String: StageState]
    /// Lines shown under a stage: what retention will keep (and why) and delete.
    public var notes: [String: [String]] = [:]

    /// With no history, every stage runs; a stage whose engine does not exist yet will fail, and says so.
    public init(pipeline: CompiledPipeline, states: [String: StageState]? = nil) {
        self.pipeline = pipeline
        self.states = states ?? Dictionary(uniqueKeysWithValues: pipeline.graph.nodes.map { ($0.id, StageState.run) })
    }

    public func state(of id: String) -> StageState { states[id] ?? .run }

    public var pendingCount: Int { states.values.filter { $0 == .run }.count }

    /// Whether the stage's engine has an implementation; `apply` fails the ones that do not.
    public static func isImplemented(_ node: StageNode) -> Bool {
        StageRegistry.isImplemented(node)
    }
}

extension Plan {
    /// The plan against the journal in `state` (read only): frequency and selection skips, and what is
    /// blocked because a skipped collect point has never produced anything.
    public static func make(_ pipeline: CompiledPipeline, state: StateDirectory?, selection: RunSelection = RunSelection())
        -> Plan {
        let journal = state?.readOnlyJournal()
        let decisions = RunDecisions.compute(pipeline, journal: journal, selection: selection, now: pipeline.date)
        var states: [String: StageState] = [:]
        // Outputs known without running anything: what skipped points hold, and predicted cache hits.
        var known: [String: [Artifact]] = [:]
        let fingerprinter = state?.existingFingerprinter()
        let order = (try? pipeline.graph.topologicalOrder()) ?? pipeline.graph.nodes
        for node in order {
            if case .skip(let reason, let reuse)? = decisions[node.id] {
                let outputs = reuse ? ((try? journal?.lastOutputs(node: node.id)) ?? nil) : []
                known[node.id] = outputs
                states[node.id] = outputs != nil ? .skip(reason) : .skip(reason + "; never ran, so nothing to ship")
                continue
            }
            if let journal, let fingerprinter, let outputs = predictedCacheHit(node, pipeline.graph, known, journal, fingerprinter) {
                known[node.id] = outputs
                states[node.id] = .cached
                continue
            }
            let inputs = pipeline.graph.inputs(of: node.id).map(\.from)
            if let blocker = inputs.first(where: { id in
                if case .blocked? = states[id] { return true }
                if case .skip(let why)? = states[id], why.hasSuffix("nothing to ship") { return true }
                return false
            }), !node.runsAfterFailure {
                states[node.id] = .blocked("needs \(blocker)")
                continue
            }
            states[node.id] = .run
        }
        var plan = Plan(pipeline: pipeline, states: states)
        for node in pipeline.graph.nodes where node.kind == .prune && node.engine == "rolling_archive" && plan.state(of: node.id) == .run {
            let upload = node.collectPoint.flatMap { cp in node.backupPoint.map { "upload:\($0)/\(cp)" } }
            let location = upload.flatMap { pipeline.graph.node($0)?.parameters.string("url") }
            do {
                plan.notes[node.id] = try RetentionPreview.lines(node, newBackup: location, at: pipeline.date)
            } catch {
                plan.notes[node.id] = ["cannot preview the retention: \(error)"]
            }
        }
        return plan
    }

    /// A stage whose inputs are all known is a cache hit when the journal holds its key.
    private static func predictedCacheHit(_ node: StageNode, _ graph: StageGraph, _ known: [String: [Artifact]],
                                          _ journal: Journal, _ fingerprinter: Fingerprinter) -> [Artifact]? {
        guard let runner = StageRegistry.runner(for: node), !runner.alwaysRuns else { return nil }
        var inputs: [StageContext.Input] = []
        for edge in graph.inputs(of: node.id) {
            guard let artifacts = known[edge.from] else { return nil }
            inputs.append(StageContext.Input(edge: edge, artifacts: artifacts))
        }
        guard !inputs.isEmpty,
              let key = try? CacheKey.compute(node: node, version: runner.version, inputs: inputs, fingerprinter: fingerprinter)
        else { return nil }
        return (try? journal.cachedOutputs(key: key)) ?? nil
    }
}
