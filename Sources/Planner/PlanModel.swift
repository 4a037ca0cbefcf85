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

    /// With no history, every stage runs; a stage whose engine does not exist yet will fail, and says so.
    public init(pipeline: CompiledPipeline, states: [String: StageState]? = nil) {
        self.pipeline = pipeline
        self.states = states ?? Dictionary(uniqueKeysWithValues: pipeline.graph.nodes.map { ($0.id, StageState.run) })
    }

    public func state(of id: String) -> StageState { states[id] ?? .run }

    public var pendingCount: Int { states.values.filter { $0 == .run }.count }

    /// Whether the stage's engine has an implementation; `apply` fails the ones that do not.
    public static func isImplemented(_ node: StageNode) -> Bool {
        let kind: EngineKind
        switch node.kind {
        case .dump: kind = .source
        case .collect: kind = .collectPoint
        case .filter: kind = .filter
        case .upload, .prune: kind = .backupPoint
        case .notify: kind = .hook
        case .archive, .verify: return false
        }
        return Catalogue.engine(node.engine, kind: kind)?.implemented ?? false
    }
}
