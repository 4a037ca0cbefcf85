import Foundation

/// What runs a stage: a typed value the planner made (its configuration decoded once, at plan time) that
/// the executor runs without knowing what it is.
public protocol StageWork: Sendable {
    /// Part of the cache key: bump it when the output for the same input changes.
    var version: String { get }
    /// Stages that read the outside world (dumps) run every time: their output cannot be predicted from
    /// their inputs. Everything else is a cache hit when its key is done and its outputs are still there.
    var alwaysRuns: Bool { get }
    func run(_ context: StageContext) async throws -> [Artifact]
    /// On a cache hit: whether what the stage made outside the store (a collect point's files, an upload)
    /// is still there as it made it. Read only: `plan` asks it too.
    func presence(of outputs: [Artifact], _ context: PresenceContext) -> Presence
}

extension StageWork {
    public func presence(of outputs: [Artifact], _ context: PresenceContext) -> Presence { .present }
}

/// Whether a stage's earlier result still stands outside the store.
public enum Presence: Sendable, Equatable {
    case present
    /// Gone or changed, and why (`the archive at … is missing`): the stage runs again.
    case gone(String)
}

/// What a presence check may read.
public struct PresenceContext: Sendable {
    public let node: StageNode
    public let store: ContentStore
    public let journal: Journal
    public let secrets: Secrets
    /// For `plan`: one quick attempt (short connection timeout, no retries) where a server is asked.
    public let quick: Bool

    public init(node: StageNode, store: ContentStore, journal: Journal, secrets: Secrets, quick: Bool) {
        self.node = node
        self.store = store
        self.journal = journal
        self.secrets = secrets
        self.quick = quick
    }

    public func table(_ namespace: String) -> StateTable { journal.table(namespace) }
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
    public let fingerprinter: Fingerprinter
    public let secrets: Secrets
    /// For a hook: every stage of this run that had ended when it was decided (its `{complete_log}` lists its
    /// scope's stages from it); empty for other stages.
    public let earlier: [StageID: NodeResult]
    let reportProgress: @Sendable (Int64) -> Void
    let reportWarning: @Sendable (String) -> Void
    let written = WrittenPlaces()
    let leftOutCount = Counter()
    let changes = ChangeTally()
    let reportChange: @Sendable (FileChange, String) -> Void
    let reportTotal: @Sendable (Int64) -> Void

    public init(node: StageNode, inputs: [Input], store: ContentStore, journal: Journal, pool: BlockingPool,
                cancellation: CancellationFlag, date: Date, stateDirectory: URL, fingerprinter: Fingerprinter, secrets: Secrets,
                reportProgress: @escaping @Sendable (Int64) -> Void,
                reportWarning: @escaping @Sendable (String) -> Void = { _ in }, earlier: [StageID: NodeResult] = [:],
                reportChange: @escaping @Sendable (FileChange, String) -> Void = { _, _ in },
                reportTotal: @escaping @Sendable (Int64) -> Void = { _ in }) {
        self.node = node
        self.inputs = inputs
        self.store = store
        self.journal = journal
        self.pool = pool
        self.cancellation = cancellation
        self.date = date
        self.stateDirectory = stateDirectory
        self.fingerprinter = fingerprinter
        self.secrets = secrets
        self.reportProgress = reportProgress
        self.reportWarning = reportWarning
        self.earlier = earlier
        self.reportChange = reportChange
        self.reportTotal = reportTotal
    }

    /// Records that the stage wrote files under `path` (outside the store): they are flushed to disk, with the
    /// store, before the journal records the stage's success.
    public func wrote(_ path: String) { written.add(path) }

    /// The engine state kept under `namespace` in the journal.
    public func table(_ namespace: String) -> StateTable { journal.table(namespace) }

    /// Reports something the user should know that does not fail the stage (a file vanished, …).
    public func warn(_ message: String) { reportWarning(message) }

    /// Reports an entry left out of the backup (it could not be read): one warning, counted. The backup is
    /// made without it, and the run ends with exit status 3 (like restic's "snapshot incomplete").
    public func leftOut(_ message: String) {
        leftOutCount.add()
        reportWarning(message)
    }

    /// A file of the source compared with the previous run: counted, and (but for an unchanged one) reported.
    /// `path` as the tree holds it (whoever prints it escapes it).
    public func fileChanged(_ change: FileChange, _ path: String) {
        changes.add(change)
        if change != .unchanged { reportChange(change, path) }
    }

    /// Says how many bytes the stage will process, for a percentage and an ETA.
    public func expect(total: Int64) { reportTotal(total) }

    /// Reports the bytes processed so far.
    public func progress(_ bytes: Int64) { reportProgress(bytes) }

    /// Runs blocking work on the pool.
    @discardableResult
    public func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.run(body)
    }

    /// The artifacts of every data input (ordering edges carry none).
    public var artifacts: [Artifact] {
        inputs.filter { $0.edge.placement.carriesData && $0.edge.placement != .listing }.flatMap(\.artifacts)
    }
    /// What `.listing` edges bring: the tree of what the stage ships.
    public var listing: [Artifact] { inputs.filter { $0.edge.placement == .listing }.flatMap(\.artifacts) }
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

/// The places a stage wrote to, flushed in one batch when it ends.
/// A count shared by a stage's threads.
/// The file changes a stage reported, counted from its threads.
final class ChangeTally: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: FileChanges?

    func add(_ change: FileChange) {
        lock.lock()
        if counts == nil { counts = FileChanges() }
        counts!.add(change)
        lock.unlock()
    }

    var value: FileChanges? {
        lock.lock()
        defer { lock.unlock() }
        return counts
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func add() {
        lock.lock()
        count += 1
        lock.unlock()
    }

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}

final class WrittenPlaces: @unchecked Sendable {
    private let lock = NSLock()
    private var paths: [String] = []

    func add(_ path: String) {
        lock.lock()
        paths.append(path)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return paths
    }
}
