import Foundation
import Pipeline

/// What the planner hands to the executor and to the renderers.
public struct CompiledPipeline: Sendable {
    public struct Point: Sendable {
        public enum Kind: String, Sendable { case collectPoint = "collect point", backupPoint = "backup point" }
        public let name: String
        public let kind: Kind
        public let engine: String
        public let frequency: Frequency
        public let tags: [String]
        public let location: SourceLocation
    }

    public var graph = StageGraph()
    public var collectPoints: [Point] = []
    public var backupPoints: [Point] = []
    /// (backup point, collect point) pairs that the tag rules associate.
    public var associations: [(backupPoint: String, collectPoint: String)] = []
    /// Hooks on restore events: they fire during `restore`, never in a run's graph. `group` says whose
    /// they are (global, a collect point, a backup point).
    public var restoreHooks: [StageNode] = []
    /// Problems that do not stop planning but will fail a stage at apply time (an unreadable secret, …).
    public var warnings: [Diagnostic] = []
    /// The instant the variables were computed from.
    public var date: Date

    public init(date: Date) { self.date = date }

    public func point(named name: String) -> Point? {
        (collectPoints + backupPoints).first { $0.name == name }
    }
}
