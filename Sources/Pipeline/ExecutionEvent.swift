import Foundation

/// How a stage ended in a run.
public enum NodeOutcome: String, Sendable, Codable {
    case succeeded, cached, skipped, failed, blocked, interrupted

    public var isFailure: Bool { self == .failed || self == .blocked || self == .interrupted }
}

public struct NodeResult: Sendable {
    public let id: String
    public let outcome: NodeOutcome
    public let outputs: [Artifact]
    public let started: Date
    public let ended: Date
    public let bytes: Int64
    /// Why it failed, was skipped or blocked.
    public let detail: String?
    /// The store object found corrupt while this stage read it.
    public let corruptObject: Digest?

    public var duration: TimeInterval { ended.timeIntervalSince(started) }
}

/// What the executor reports while it runs; the CLI renders these as lines, progress or JSON.
public enum ExecutionEvent: Sendable {
    case started(id: String, kind: StageKind)
    case progress(id: String, bytes: Int64)
    case warning(id: String, message: String)
    case finished(NodeResult)
}
