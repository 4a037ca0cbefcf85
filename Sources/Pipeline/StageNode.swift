/// Which box of the pipeline picture a node belongs to, for rendering and filtering.
public enum StageGroup: Hashable, Sendable, Codable {
    case global
    case collectPoint(String)
    case backupPoint(String)

    public var name: String {
        switch self {
        case .global: return "global"
        case .collectPoint(let name), .backupPoint(let name): return name
        }
    }
}

/// One stage of the graph: typed, with a stable id such as `dump:www/database` or `upload:offsite/www`.
public struct StageNode: Sendable, Identifiable {
    public let id: String
    public let kind: StageKind
    /// The engine that does the work (`postgresql`, `archive`, `encrypt`, …).
    public let engine: String
    public let group: StageGroup
    /// The collect point whose data flows through this node, when there is one.
    public let collectPoint: String?
    /// The backup point this node ships to, when there is one.
    public let backupPoint: String?
    /// Parameters after variable expansion and validation, in a stable order.
    public let parameters: Parameters
    /// Resources whose concurrency is limited (a database server, a remote host).
    public let resourceKeys: [String]
    /// A notify node runs when its inputs finished, whether they succeeded or failed.
    public let runsAfterFailure: Bool
    /// Short human description for plans.
    public let summary: String
    /// The variables of the node's scope, recorded with what it makes (metadata documents). Not part of
    /// the cache key: a date that moves does not make a stage run again.
    public var variables: [String: String] = [:]

    public init(id: String, kind: StageKind, engine: String, group: StageGroup,
                collectPoint: String? = nil, backupPoint: String? = nil,
                parameters: Parameters = Parameters(), resourceKeys: [String] = [],
                runsAfterFailure: Bool = false, summary: String) {
        self.id = id
        self.kind = kind
        self.engine = engine
        self.group = group
        self.collectPoint = collectPoint
        self.backupPoint = backupPoint
        self.parameters = parameters
        self.resourceKeys = resourceKeys
        self.runsAfterFailure = runsAfterFailure
        self.summary = summary
    }
}

/// An edge: the output of `from` is an input of `to`; `label` says what flows.
public struct StageEdge: Hashable, Sendable {
    public let from: String
    public let to: String
    public let label: String

    public init(from: String, to: String, label: String) {
        self.from = from
        self.to = to
        self.label = label
    }
}
