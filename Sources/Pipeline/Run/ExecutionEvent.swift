import Foundation

/// How a stage ended in a run.
public enum NodeOutcome: String, Sendable, Codable, CaseIterable {
    case succeeded, cached, skipped, failed, blocked, interrupted

    public var isFailure: Bool { self == .failed || self == .blocked || self == .interrupted }
}

public struct NodeResult: Sendable {
    public let id: StageID
    public let outcome: NodeOutcome
    public let outputs: [Artifact]
    public let started: Date
    public let ended: Date
    public let bytes: Int64
    /// Why it failed, was skipped or blocked.
    public let detail: String?
    /// The store object found corrupt while this stage read it.
    public let corruptObject: Digest?
    /// Entries it left out because they could not be read (each was warned about).
    public let leftOut: Int
    /// What a source found of its files against its previous run (`apply --stats`); nil for other stages.
    public var changes: FileChanges?

    public init(id: StageID, outcome: NodeOutcome, outputs: [Artifact] = [], started: Date, ended: Date, bytes: Int64 = 0,
                detail: String? = nil, corruptObject: Digest? = nil, leftOut: Int = 0) {
        self.id = id
        self.outcome = outcome
        self.outputs = outputs
        self.started = started
        self.ended = ended
        self.bytes = bytes
        self.detail = detail
        self.corruptObject = corruptObject
        self.leftOut = leftOut
    }

    public var duration: TimeInterval { ended.timeIntervalSince(started) }
}

/// What the executor reports while it runs; the CLI renders these as lines, progress or JSON.
public enum ExecutionEvent: Sendable {
    /// A stage will run, and why (`no earlier result for these inputs`, `the archive … is gone`).
    case decided(id: StageID, reason: String)
    case started(id: StageID)
    case progress(id: StageID, bytes: Int64)
    /// How many bytes the stage will process, when it knows (an upload's file): progress shows a percentage
    /// and an ETA.
    case total(id: StageID, bytes: Int64)
    case warning(id: StageID, message: String)
    /// A file the stage found new, changed or removed since its previous run (`apply -v` lists them).
    case fileChanged(id: StageID, change: FileChange, path: String)
    case finished(NodeResult)
}

/// How a file of a source compares with the previous run.
public enum FileChange: String, Sendable {
    case new, changed, unchanged, removed
}

/// The files of a source by how they compare with the previous run.
public struct FileChanges: Sendable, Equatable {
    public var new = 0, changed = 0, unchanged = 0, removed = 0

    public init() {}

    mutating func add(_ change: FileChange) {
        switch change {
        case .new: new += 1
        case .changed: changed += 1
        case .unchanged: unchanged += 1
        case .removed: removed += 1
        }
    }
}
