/// One stage of the graph: what it is (`id`), the work that runs it, decided with its typed
/// configuration when the plan was made, and the normalised parameters its cache key is made of.
public struct StageNode: Sendable, Identifiable {
    public let id: StageID
    public var kind: StageKind { id.kind }
    /// The engine that does the work (`postgresql`, `archive`, `encrypt`, …): shown, and part of the cache key.
    public let engine: String
    public let work: any StageWork
    /// What the stage's output depends on besides its inputs, in a stable order (secrets enter the cache key
    /// only as a keyed fingerprint). Presentation values (a frequency) stay out: changing one re-runs nothing.
    public let parameters: Parameters
    /// Resources whose concurrency is limited (a database server, a remote host).
    public let resourceKeys: [String]
    /// A notify node runs when its inputs finished, whether they succeeded or failed.
    public let runsAfterFailure: Bool
    /// Short human description for plans.
    public let summary: String

    public init(id: StageID, engine: String, work: any StageWork, parameters: Parameters = Parameters(),
                resourceKeys: [String] = [], runsAfterFailure: Bool = false, summary: String) {
        self.id = id
        self.engine = engine
        self.work = work
        self.parameters = parameters
        self.resourceKeys = resourceKeys
        self.runsAfterFailure = runsAfterFailure
        self.summary = summary
    }
}

/// Where an input's artifacts go in the stage that receives them.
public enum Placement: Hashable, Sendable, CustomStringConvertible {
    /// A tree at the root (the collect point's whole tree), or a blob as it is (an archive).
    case root
    /// A blob at this relative file path, or a tree under this relative directory (ending in `/`).
    case path(String)
    /// No data: the second stage needs the first to have succeeded (retention after its upload, a restore's
    /// steps one after the other).
    case order
    /// No data and no condition: the second stage runs after the first ended, however it ended (a hook that
    /// only notifies, before its scope; a hook after the stages it reports on).
    case after
    /// The collect point's tree beside what a stage ships (an archive): not its data, but the listing it
    /// uploads beside the backup (`ls`, `find` and `diff` read it without downloading the archive).
    case listing

    public var description: String {
        switch self {
        case .root: return "root"
        case .path(let path): return path
        case .order: return "order"
        case .after: return "after"
        case .listing: return "listing"
        }
    }

    /// Whether artifacts flow along the edge.
    public var carriesData: Bool {
        switch self {
        case .root, .path, .listing: return true
        case .order, .after: return false
        }
    }
}

/// An edge: the output of `from` is an input of `to`, placed as `placement` says; `label` is for display.
public struct StageEdge: Hashable, Sendable {
    public let from: StageID
    public let to: StageID
    public let placement: Placement
    public let label: String

    public init(from: StageID, to: StageID, placement: Placement, label: String) {
        self.from = from
        self.to = to
        self.placement = placement
        self.label = label
    }
}
