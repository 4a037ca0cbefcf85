import Foundation
import Pipeline
import Stages

/// What a stage is about, typed: the planner's record of each node (the executor needs none of it).
public enum StageRole: Sendable, Hashable {
    case dump(collectPoint: String, source: String)
    case collectFilter(collectPoint: String, filter: String)
    case collect(collectPoint: String)
    /// An archive of a collect point, shared by the backup points that want the same one.
    case archive(collectPoint: String)
    /// A backup point's filter (shared with other backup points that use the same settings).
    case backupFilter(backupPoint: String, collectPoint: String, filter: String)
    case upload(backupPoint: String, collectPoint: String)
    case prune(backupPoint: String, collectPoint: String)
    /// The newest backup checked where it is stored (its own frequency).
    case verify(backupPoint: String, collectPoint: String)
    case hook(PointScope, hook: String, phase: HookPhase)

    public var collectPoint: String? {
        switch self {
        case .dump(let cp, _), .collectFilter(let cp, _), .collect(let cp), .archive(let cp): return cp
        case .backupFilter(_, let cp, _), .upload(_, let cp), .prune(_, let cp), .verify(_, let cp): return cp
        case .hook: return nil
        }
    }

    public var backupPoint: String? {
        switch self {
        case .backupFilter(let bp, _, _), .upload(let bp, _), .prune(let bp, _), .verify(let bp, _): return bp
        default: return nil
        }
    }

    /// The box of the pipeline picture it belongs to.
    public var scope: PointScope {
        switch self {
        case .hook(let scope, _, _): return scope
        case .dump(let cp, _), .collectFilter(let cp, _), .collect(let cp), .archive(let cp): return .collectPoint(cp)
        case .backupFilter(let bp, _, _), .upload(let bp, _), .prune(let bp, _), .verify(let bp, _): return .backupPoint(bp)
        }
    }
}

/// Whose stages and hooks: the whole run's, a collect point's or a backup point's.
public enum PointScope: Sendable, Hashable, CustomStringConvertible {
    case global
    case collectPoint(String)
    case backupPoint(String)

    public var name: String {
        switch self {
        case .global: return "global"
        case .collectPoint(let name), .backupPoint(let name): return name
        }
    }

    public var description: String { name }
}

extension StageID {
    static func dump(_ cp: String, _ source: String) -> StageID { StageID(.dump, cp, source) }
    static func collectFilter(_ cp: String, _ filter: String) -> StageID { StageID(.filter, cp, filter) }
    static func collect(_ cp: String) -> StageID { StageID(.collect, cp) }
    static func archive(_ cp: String, _ variant: String) -> StageID { StageID(.archive, cp, variant) }
    static func backupFilter(_ bp: String, _ cp: String, _ filter: String) -> StageID { StageID(.filter, bp, cp, filter) }
    static func upload(_ bp: String, _ cp: String) -> StageID { StageID(.upload, bp, cp) }
    static func prune(_ bp: String, _ cp: String) -> StageID { StageID(.prune, bp, cp) }
    static func verify(_ bp: String, _ cp: String) -> StageID { StageID(.verify, bp, cp) }
    static func hook(_ scope: PointScope, _ hook: String, _ phase: HookPhase) -> StageID { StageID(.notify, scope.name, hook, phase.rawValue) }
}

/// What the planner hands to the executor, to restore and to the renderers.
public struct CompiledPipeline: Sendable {
    public struct Point: Sendable {
        public enum Kind: String, Sendable { case collectPoint = "collect point", backupPoint = "backup point" }
        public let name: String
        public let kind: Kind
        public let engine: String
        public let frequency: Frequency
        public let tags: [String]
        public let location: SourceLocation
        /// A backup point's `verify_frequency`; nil when it does not verify (and for collect points).
        public var verifyFrequency: Frequency? = nil
    }

    /// A source with its engine, decoded once.
    public struct Source: Sendable {
        public let name: String
        public let engine: any SourceEngine
        /// Where its data lands in the collect point (a file, or a directory ending in `/`).
        public let destination: String
    }

    /// A collect point's engines: what restore and list need besides the graph.
    public struct Collect: Sendable {
        public let engine: any CollectPointEngine
        public let sources: [Source]
        public let filters: [(name: String, engine: any FilterEngine)]
    }

    /// One (backup point, collect point) pair.
    public struct Backup: Sendable {
        public let backupPoint: String
        public let collectPoint: String
        public let engine: any BackupPointEngine
        /// Its parameters as compiled for this pair (what `validate` shows).
        public let parameters: Parameters
        public let filters: [(name: String, engine: any FilterEngine)]
    }

    /// A hook on restore events: it fires during `restore`, never in a run's graph.
    public struct RestoreHook: Sendable {
        public let scope: PointScope
        public let name: String
        public let hook: any HookEngine
        public let events: [HookEvent]
    }

    public var graph = StageGraph()
    public var roles: [StageID: StageRole] = [:]
    public var collectPoints: [Point] = []
    public var backupPoints: [Point] = []
    /// Directories stages make hold only their own data (collect points, mirrors): the state directory must
    /// lie outside them.
    public var ownedDirectories: [String] = []
    /// The configuration's `state_dir:`, if it has one.
    public var stateDirectory: String?
    /// (backup point, collect point) pairs that the tag rules associate.
    public var associations: [(backupPoint: String, collectPoint: String)] = []
    public var collects: [String: Collect] = [:]
    public var backups: [Backup] = []
    public var restoreHooks: [RestoreHook] = []
    /// Problems that do not stop planning but will fail a stage at apply time (an unreadable secret, …).
    public var warnings: [Diagnostic] = []
    /// The instant the variables were computed from.
    public var date: Date
    /// This host's name, as backups record it.
    public var host: String

    public init(date: Date, host: String) {
        self.date = date
        self.host = host
    }

    public func point(named name: String) -> Point? {
        (collectPoints + backupPoints).first { $0.name == name }
    }

    public func backup(_ backupPoint: String, _ collectPoint: String) -> Backup? {
        backups.first { $0.backupPoint == backupPoint && $0.collectPoint == collectPoint }
    }

    /// The stages of one role's kind, in graph order.
    public func nodes(where matches: (StageRole) -> Bool) -> [StageNode] {
        graph.nodes.filter { roles[$0.id].map(matches) ?? false }
    }
}
