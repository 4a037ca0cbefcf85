import Foundation
import Pipeline
import Stages

/// What `plan` promises for one stage: the `Decision` that `apply` would act on, as far as it can be known
/// before anything runs.
public enum StageState: Sendable, Equatable, CustomStringConvertible {
    case run(String)
    /// A stage that always runs because only running it tells (a dump: whether its data changed; retention:
    /// what time made expire); what follows a dump is known only after it.
    case check(String)
    case cached
    /// Cached if that stage (a dump) gives what it gave last time.
    case cachedUnlessChanged(StageID)
    case skip(String)
    case blocked(String)

    public var description: String {
        switch self {
        case .run(let why): return "run (\(why))"
        case .check(let why): return "run (\(why))"
        case .cached: return "cached"
        case .cachedUnlessChanged(let dump): return "cached unless \(dump) changes"
        case .skip(let why): return "skip (\(why))"
        case .blocked(let why): return "blocked (\(why))"
        }
    }

    public var keyword: String {
        switch self {
        case .run, .check: return "run"
        case .cached, .cachedUnlessChanged: return "cached"
        case .skip: return "skip"
        case .blocked: return "blocked"
        }
    }

    /// Work that will happen whatever the dumps find.
    public var isPending: Bool {
        if case .run = self { return true }
        return false
    }
}

/// A pipeline with a state for every stage.
public struct Plan: Sendable {
    public let pipeline: CompiledPipeline
    public let states: [StageID: StageState]
    /// Lines shown under a stage: what retention will keep (and why) and delete.
    public var notes: [StageID: [String]] = [:]

    public func state(of id: StageID) -> StageState { states[id] ?? .run("not planned") }

    /// Stages that will run even when every dump gives what it gave last time (hooks aside).
    public var pendingCount: Int {
        states.filter { id, state in state.isPending && pipeline.graph.node(id)?.kind != .notify }.count
    }
}

extension Plan {
    /// The plan against the journal in `state` (read only): the decision procedure `apply` uses, fed with
    /// what is known before anything runs — a dump's outputs of last time stand for its next ones.
    public static func make(_ pipeline: CompiledPipeline, state: StateDirectory?, selection: RunSelection = RunSelection(),
                            secrets: Secrets) -> Plan {
        let journal = state?.readOnlyJournal()
        let store = state.flatMap { try? ContentStore(root: $0.storeURL, create: false) }
        let presets = RunDecisions.compute(pipeline, journal: journal, selection: selection, now: pipeline.date)
        let decider = Decider(store: store, journal: journal, fingerprinter: state?.existingFingerprinter(), secrets: secrets,
                              presets: presets, quick: true)
        var states: [StageID: StageState] = [:]
        var known: [StageID: Upstream] = [:]
        let order = (try? pipeline.graph.topologicalOrder()) ?? pipeline.graph.nodes
        for node in order {
            let inputs = pipeline.graph.inputs(of: node.id).map { edge in
                (edge: edge, upstream: known[edge.from] ?? .expected(nil, by: edge.from))
            }
            let (decision, _) = decider.decide(node, inputs)
            switch decision {
            case .run(let reason):
                if node.work.alwaysRuns && node.kind != .notify {
                    states[node.id] = .check(node.kind == .dump ? "always: only running it tells whether the data changed"
                                             : "every run: what it does depends on the time")
                    known[node.id] = .expected(((try? journal?.lastOutputs(node: node.id)) ?? nil), by: node.id)
                } else {
                    states[node.id] = .run(reason)
                    known[node.id] = .expected(nil, by: node.id)
                }
            case .cached(let outputs, let assuming):
                states[node.id] = assuming.map { .cachedUnlessChanged($0) } ?? .cached
                known[node.id] = assuming.map { .expected(outputs, by: $0) } ?? .produced(outputs)
            case .skipped(let reason, let outputs):
                let never = outputs.isEmpty && node.kind == .collect
                states[node.id] = .skip(never ? reason + "; never ran, so nothing to ship" : reason)
                known[node.id] = .skipped(reason: reason, outputs: outputs)
            case .blocked(let reason):
                states[node.id] = .blocked(reason)
                known[node.id] = .blocked(reason)
            }
        }
        var plan = Plan(pipeline: pipeline, states: states)
        let unreachable = UnreachableHosts()
        for node in pipeline.graph.nodes {
            guard let notes = node.work as? PlanNotes, plan.state(of: node.id).keyword == "run" else { continue }
            plan.notes[node.id] = notes.notes(secrets: secrets, journal: journal, date: pipeline.date, unreachable: unreachable)
        }
        return plan
    }
}
