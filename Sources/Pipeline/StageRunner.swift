import Foundation

/// What runs a stage. The executor asks an engine registry for one per node; none means the engine
/// is not implemented yet, and the node fails saying so.
public protocol StageRunner: Sendable {
    /// Part of the cache key: bump it when the engine's output for the same input changes.
    var version: String { get }
    /// Stages that read the outside world (dumps) run every time: their output cannot be predicted from
    /// their inputs. Everything else is skipped when its cache key is already done.
    var alwaysRuns: Bool { get }
    func run(_ context: StageContext) async throws -> [Artifact]
    /// On a cache hit: whether what the stage made outside the store (a collect point's files, an upload)
    /// is still there as it made it. When not, the stage runs again.
    func isStillInPlace(_ node: StageNode, outputs: [Artifact], journal: Journal, store: ContentStore) -> Bool
}

extension StageRunner {
    public func isStillInPlace(_ node: StageNode, outputs: [Artifact], journal: Journal, store: ContentStore) -> Bool { true }
}

/// Everything a stage may use while it runs.
public struct StageContext: Sendable {
    public struct Input: Sendable {
        public let edge: StageEdge
        public let artifacts: [Artifact]
        /// How the input stage ended (hooks report it).
        public let outcome: NodeOutcome?
        public let detail: String?

        public init(edge: StageEdge, artifacts: [Artifact], outcome: NodeOutcome? = nil, detail: String? = nil) {
            self.edge = edge
            self.artifacts = artifacts
            self.outcome = outcome
            self.detail = detail
        }
    }

    public let node: StageNode
    public let inputs: [Input]
    public let store: ContentStore
    public let journal: Journal
    public let pool: BlockingPool
    public let cancellation: CancellationFlag
    /// The instant of the run (variables were computed from it).
    public let date: Date
    /// A directory for this stage's own state between runs.
    public let stateDirectory: URL
    /// Turns a secret into a keyed fingerprint, for stages that remember work done under it.
    public let fingerprinter: Fingerprinter?
    let reportProgress: @Sendable (Int64) -> Void
    let reportWarning: @Sendable (String) -> Void

    public init(node: StageNode, inputs: [Input], store: ContentStore, journal: Journal, pool: BlockingPool,
                cancellation: CancellationFlag, date: Date, stateDirectory: URL, fingerprinter: Fingerprinter? = nil,
                reportProgress: @escaping @Sendable (Int64) -> Void,
                reportWarning: @escaping @Sendable (String) -> Void = { _ in }) {
        self.node = node
        self.inputs = inputs
        self.store = store
        self.journal = journal
        self.pool = pool
        self.cancellation = cancellation
        self.date = date
        self.stateDirectory = stateDirectory
        self.fingerprinter = fingerprinter
        self.reportProgress = reportProgress
        self.reportWarning = reportWarning
    }

    /// Reports something the user should know that does not fail the stage (a file vanished, …).
    public func warn(_ message: String) { reportWarning(message) }

    /// Reports the bytes processed so far.
    public func progress(_ bytes: Int64) { reportProgress(bytes) }

    /// Runs blocking work on the pool.
    @discardableResult
    public func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.run(body)
    }
}

/// A stage failure with what the user needs: the message, and the tool's stderr when there is one.
public struct StageFailure: Error, CustomStringConvertible {
    public let message: String
    public let stderr: String?

    public init(_ message: String, stderr: String? = nil) {
        self.message = message
        self.stderr = stderr
    }

    public var description: String {
        guard let stderr, !stderr.isEmpty else { return message }
        return message + "\n" + stderr.split(separator: "\n").suffix(20).map { "    " + $0 }.joined(separator: "\n")
    }
}
