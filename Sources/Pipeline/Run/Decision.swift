import Foundation

/// What the planner decided for a node before anything runs: frequency, `--only-*`, `--skip-*`.
public enum Preset: Sendable, Equatable {
    case run
    /// Skipped; when `reuseLastOutputs`, its outputs are those of its newest successful run (a collect
    /// point that is not due still ships what it holds).
    case skip(reason: String, reuseLastOutputs: Bool)
    /// Runs even when its earlier result is cached (an upload whose backup failed its verification).
    case rerun(reason: String)

    public var runs: Bool {
        if case .skip = self { return false }
        return true
    }
}

/// What happens to a stage, and why: the one answer `plan` shows and `apply` acts on.
public enum Decision: Sendable, Equatable {
    /// It runs; the reason says why (`no earlier result for these inputs`, `the archive … is gone`).
    case run(reason: String)
    /// A cache hit: its earlier outputs stand. `assuming`: known only in a plan, where it holds if that stage
    /// (a dump, which always runs) gives what it gave last time.
    case cached([Artifact], assuming: StageID?)
    case skipped(reason: String, outputs: [Artifact])
    case blocked(reason: String)
}

/// What is known of one of a stage's inputs when the stage is decided.
public enum Upstream: Sendable {
    /// It produced these (succeeded or was a cache hit).
    case produced([Artifact])
    case skipped(reason: String, outputs: [Artifact])
    case failed(String?)
    case blocked(String?)
    /// In a plan: it will run, and these are its outputs of last time (nil: none known); `by` is the stage
    /// whose output decides whether they hold.
    case expected([Artifact]?, by: StageID)

    public init(_ result: NodeResult) {
        switch result.outcome {
        case .succeeded, .cached: self = .produced(result.outputs)
        case .skipped: self = .skipped(reason: result.detail ?? "skipped", outputs: result.outputs)
        case .failed, .interrupted: self = .failed(result.detail)
        case .blocked: self = .blocked(result.detail)
        }
    }
}

/// The decision procedure shared by `plan` and `apply` (Terraform's single walk): presets first, then
/// failures upstream, then the cache (key known, outputs in the store, what the stage made outside it still
/// in place). Blocking: presence checks may read files or ask a server; call it on the blocking pool.
public struct Decider: Sendable {
    /// nil for a plan without a state directory: nothing is cached.
    public let store: ContentStore?
    public let journal: Journal?
    public let fingerprinter: Fingerprinter?
    public let secrets: Secrets
    public let presets: [StageID: Preset]
    /// For `plan`: presence checks make one quick attempt.
    public let quick: Bool

    public init(store: ContentStore?, journal: Journal?, fingerprinter: Fingerprinter?, secrets: Secrets,
                presets: [StageID: Preset], quick: Bool) {
        self.store = store
        self.journal = journal
        self.fingerprinter = fingerprinter
        self.secrets = secrets
        self.presets = presets
        self.quick = quick
    }

    /// A stage this one runs after that failed or was blocked now and never succeeded before.
    private func neverSucceeded(_ inputs: [(edge: StageEdge, upstream: Upstream)]) -> StageID? {
        guard let journal else { return nil }
        for (edge, upstream) in inputs where edge.placement == .after {
            switch upstream {
            case .failed, .blocked:
                if (try? journal.lastOutputs(node: edge.from)) == .some(nil) { return edge.from }
            default: continue
            }
        }
        return nil
    }

    /// The decision for `node` given its inputs (edges with what is known of the stage at their other end),
    /// and the cache key when one could be computed.
    public func decide(_ node: StageNode, _ inputs: [(edge: StageEdge, upstream: Upstream)]) -> (Decision, key: String?) {
        if case .skip(let reason, let reuse)? = presets[node.id] {
            let outputs = reuse ? ((try? journal?.lastOutputs(node: node.id)) ?? nil) ?? [] : []
            return (.skipped(reason: reason, outputs: outputs), nil)
        }
        if !node.runsAfterFailure {
            // Only a failure the stage depends on blocks it: a stage that merely ran before (a notification) does not.
            for (edge, upstream) in inputs where edge.placement != .after {
                switch upstream {
                case .failed:
                    // Its error was printed once, with it: each stage it blocks names it, not the error again.
                    return (.blocked(reason: "blocked by \(edge.from), which failed"), nil)
                case .blocked(let detail):
                    return (.blocked(reason: detail ?? "blocked by \(edge.from)"), nil)
                case .skipped(_, let outputs) where outputs.isEmpty && edge.placement.carriesData:
                    return (.blocked(reason: "blocked: \(edge.from) was skipped and has never produced anything"), nil)
                default: continue
                }
            }
        }
        if node.kind == .verify, let stage = neverSucceeded(inputs) {
            // A first run whose upload did not happen: nothing is there to verify, and its failure is reported already.
            return (.skipped(reason: "nothing to verify yet: \(stage) has never succeeded", outputs: []), nil)
        }
        if node.work.alwaysRuns {
            return (.run(reason: node.kind == .notify ? "hooks always run" : "always runs: only running it tells what it gives"), nil)
        }
        guard let store, let journal, let fingerprinter else { return (.run(reason: "first run: nothing is cached yet"), nil) }
        var known: [StageContext.Input] = []
        var assumption: StageID?
        for (edge, upstream) in inputs where edge.placement.carriesData {
            switch upstream {
            case .produced(let artifacts), .skipped(_, let artifacts):
                known.append(StageContext.Input(edge: edge, artifacts: artifacts))
            case .expected(let artifacts, let by):
                guard let artifacts else { return (.run(reason: "runs after \(by), whose output is not known yet"), nil) }
                known.append(StageContext.Input(edge: edge, artifacts: artifacts))
                assumption = assumption ?? by
            case .failed, .blocked:
                return (.run(reason: "runs after its inputs"), nil)
            }
        }
        let key: String
        do {
            key = try CacheKey.compute(node: node, inputs: known, fingerprinter: fingerprinter, secrets: secrets)
        } catch {
            return (.run(reason: "its cache key cannot be computed (\(error))"), nil)
        }
        if case .rerun(let reason)? = presets[node.id] { return (.run(reason: reason), key) }
        guard let cached = (try? journal.cachedOutputs(key: key)) ?? nil else {
            return (.run(reason: assumption.map { "its input from \($0) differs from any earlier run" }
                    ?? "no earlier result for these inputs and parameters"), key)
        }
        if let missing = cached.first(where: { !store.holds($0) }) {
            return (.run(reason: "its earlier output \(missing.digest.short) is no longer in the store"), key)
        }
        let context = PresenceContext(node: node, store: store, journal: journal, secrets: secrets, quick: quick)
        if case .gone(let why) = node.work.presence(of: cached, context) {
            return (.run(reason: why), key)
        }
        return (.cached(cached, assuming: assumption), key)
    }
}

extension ContentStore {
    /// Whether a cached output is still in the store (a tree: its manifest; a blob missing from one is
    /// found when read, and made again).
    func holds(_ artifact: Artifact) -> Bool {
        switch artifact.kind {
        case .remote: return true
        case .blob: return size(of: artifact.digest) == artifact.size
        case .tree: return contains(artifact.digest)
        }
    }
}
