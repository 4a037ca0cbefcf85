import Foundation
import Testing
import TestSupport
@testable import Pipeline

/// The executor's scheduling, with runners that only record what happened (the engines are tested
/// end to end elsewhere; here the subject is the graph walk).
@Suite struct ExecutorTests {
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var spans: [String: (Date, Date)] = [:]
        private(set) var runs: [String] = []
        func record(_ id: String, _ start: Date, _ end: Date) {
            lock.lock()
            spans[id] = (start, end)
            runs.append(id)
            lock.unlock()
        }
    }

    struct SleepWork: StageWork {
        let version = "1"
        let alwaysRuns: Bool
        let recorder: Recorder
        let fail: Bool

        func run(_ context: StageContext) async throws -> [Artifact] {
            let start = Date()
            _ = try await context.blocking { usleep(200_000) }
            recorder.record(context.node.id.path.joined(), start, Date())
            if fail { throw StageFailure("boom") }
            let input = context.inputs.flatMap(\.artifacts).map(\.digest.hex).joined()
            return [try context.store.put(Data((context.node.id.description + input).utf8))]
        }
    }

    struct Fixture {
        let scratch: TemporaryDirectory
        var directory: URL { scratch.url }
        let store: ContentStore
        let journal: Journal

        init() throws {
            scratch = try TemporaryDirectory("pa-exec")
            let directory = scratch.url
            store = try ContentStore(root: directory.appendingPathComponent("store"))
            journal = try Journal(path: directory.appendingPathComponent("journal.sqlite").path)
        }

        /// Each node's work sleeps and records when it ran; `failing` names the ones that throw.
        func run(_ graph: StageGraph, jobs: Int = 4, limit: Int = 1) async throws -> [String: NodeOutcome] {
            let runID = try journal.startRun(command: "test", at: Date())
            let fingerprinter = Fingerprinter(keyData: Data(repeating: 7, count: 32))
            let secrets = Secrets(environment: [:])
            let decider = Decider(store: store, journal: journal, fingerprinter: fingerprinter, secrets: secrets, presets: [:], quick: false)
            let executor = Executor(graph: graph, decider: decider, store: store, journal: journal, pool: BlockingPool(threads: 4),
                                    fingerprinter: fingerprinter, configuration: .init(jobs: jobs) { _ in limit }, events: { _ in },
                                    cancellation: CancellationFlag(), date: Date(), runID: runID, stateDirectory: directory)
            let results = await executor.run()
            return Dictionary(uniqueKeysWithValues: results.map { ($0.id.path.joined(), $0.outcome) })
        }
    }

    func node(_ name: String, _ kind: StageKind, recorder: Recorder, resources: [String] = [], afterFailure: Bool = false,
              fail: Bool = false) -> StageNode {
        StageNode(id: StageID(kind, name), engine: "test",
                  work: SleepWork(alwaysRuns: kind == .dump || kind == .notify, recorder: recorder, fail: fail),
                  resourceKeys: resources, runsAfterFailure: afterFailure, summary: name)
    }

    func connect(_ graph: inout StageGraph, _ from: StageNode, _ to: StageNode) throws {
        try graph.connect(from.id, to.id, placement: to.kind == .notify ? .order : .root, label: "x")
    }

    func overlap(_ a: (Date, Date)?, _ b: (Date, Date)?) -> Bool {
        guard let a, let b else { return false }
        return a.0 < b.1 && b.0 < a.1
    }

    @Test func independentNodesOverlapAndAResourceLimitSerialisesThem() async throws {
        var graph = StageGraph()
        let recorder = Recorder()
        try graph.add(node("a", .dump, recorder: recorder))
        try graph.add(node("b", .dump, recorder: recorder))
        try graph.add(node("c", .dump, recorder: recorder, resources: ["postgresql:db1"]))
        try graph.add(node("d", .dump, recorder: recorder, resources: ["postgresql:db1"]))
        let outcomes = try await Fixture().run(graph)
        #expect(outcomes.values.allSatisfy { $0 == .succeeded })
        #expect(overlap(recorder.spans["a"], recorder.spans["b"]))
        #expect(!overlap(recorder.spans["c"], recorder.spans["d"]), "one dump at a time per database server")
    }

    @Test func jobsBoundsConcurrency() async throws {
        var graph = StageGraph()
        let recorder = Recorder()
        for id in ["a", "b", "c"] { try graph.add(node(id, .dump, recorder: recorder)) }
        _ = try await Fixture().run(graph, jobs: 1)
        #expect(!overlap(recorder.spans["a"], recorder.spans["b"]))
        #expect(!overlap(recorder.spans["b"], recorder.spans["c"]))
    }

    @Test func aFailureBlocksItsDescendantsOnlyAndHooksStillRun() async throws {
        var graph = StageGraph()
        let recorder = Recorder()
        let bad = node("bad", .dump, recorder: recorder, fail: true), good = node("good", .dump, recorder: recorder)
        let collectBad = node("collect-bad", .collect, recorder: recorder), collectGood = node("collect-good", .collect, recorder: recorder)
        let uploadBad = node("upload-bad", .upload, recorder: recorder), notify = node("notify", .notify, recorder: recorder, afterFailure: true)
        for each in [bad, good, collectBad, collectGood, uploadBad, notify] { try graph.add(each) }
        try connect(&graph, bad, collectBad)
        try connect(&graph, good, collectGood)
        try connect(&graph, collectBad, uploadBad)
        try connect(&graph, uploadBad, notify)
        try connect(&graph, collectGood, notify)
        let outcomes = try await Fixture().run(graph)
        #expect(outcomes["bad"] == .failed)
        #expect(outcomes["collect-bad"] == .blocked)
        #expect(outcomes["upload-bad"] == .blocked)
        #expect(outcomes["collect-good"] == .succeeded)
        #expect(outcomes["notify"] == .succeeded)
    }

    @Test func aSecondRunWithTheSameInputsIsCachedButDumpsRunAgain() async throws {
        let fixture = try Fixture()
        func graph(_ recorder: Recorder) throws -> StageGraph {
            var graph = StageGraph()
            let dump = node("dump", .dump, recorder: recorder), collect = node("collect", .collect, recorder: recorder)
            try graph.add(dump)
            try graph.add(collect)
            try connect(&graph, dump, collect)
            return graph
        }
        _ = try await fixture.run(try graph(Recorder()))
        let recorder = Recorder()
        let second = try await fixture.run(try graph(recorder))
        #expect(second["dump"] == .succeeded)
        #expect(second["collect"] == .cached)
        #expect(recorder.runs == ["dump"])
        // The cached output vanishes from the store: the stage runs again.
        for digest in fixture.store.allObjects() { fixture.store.remove(digest) }
        let third = try await fixture.run(try graph(Recorder()))
        #expect(third["collect"] == .succeeded)
    }

    @Test func storeDetectsCorruption() throws {
        let fixture = try Fixture()
        let artifact = try fixture.store.put(Data("precious".utf8))
        #expect(try fixture.store.data(of: artifact.digest) == Data("precious".utf8))
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: fixture.store.path(of: artifact.digest)))
        #expect(throws: ContentStore.StoreError.self) { try fixture.store.data(of: artifact.digest) }
        #expect(!fixture.store.contains(artifact.digest), "a corrupt object is discarded")
    }

    @Test func treesEncodeCanonically() throws {
        let digest = Digest.of("x")
        let a = Tree(entries: [
            Tree.Entry(kind: .file, path: "b/c.txt", mode: 0o644, size: 1, mtime: 5, digest: digest),
            Tree.Entry(kind: .directory, path: "b", mode: 0o755, mtime: 4),
            Tree.Entry(kind: .symlink, path: "a \"quoted\"\nname", mode: 0o777, mtime: 3, target: "b/c.txt"),
        ])
        let b = Tree(entries: a.entries.reversed())
        #expect(a.encoded() == b.encoded())
        #expect(try Tree.decode(a.encoded()) == a)
    }
}

@Suite struct CacheKeyTests {
    struct Nothing: StageWork {
        let version: String
        let alwaysRuns = false
        func run(_ context: StageContext) async throws -> [Artifact] { [] }
    }

    func node(password: String, version: String = "1") -> StageNode {
        var parameters = Parameters()
        parameters["database"] = .string("app")
        parameters["password"] = .secret(Secret(.literal(password)))
        return StageNode(id: StageID(.dump, "www", "db"), engine: "postgresql", work: Nothing(version: version), parameters: parameters,
                         summary: "")
    }

    let secrets = Secrets(environment: [:])

    @Test func secretsEnterOnlyAsAKeyedFingerprint() throws {
        let key = Fingerprinter(keyData: Data(repeating: 1, count: 32))
        let a = try CacheKey.compute(node: node(password: "hunter2"), inputs: [], fingerprinter: key, secrets: secrets)
        let b = try CacheKey.compute(node: node(password: "hunter3"), inputs: [], fingerprinter: key, secrets: secrets)
        let c = try CacheKey.compute(node: node(password: "hunter2", version: "2"), inputs: [], fingerprinter: key, secrets: secrets)
        let otherKey = Fingerprinter(keyData: Data(repeating: 2, count: 32))
        let d = try CacheKey.compute(node: node(password: "hunter2"), inputs: [], fingerprinter: otherKey, secrets: secrets)
        #expect(a != b, "a changed secret changes the key")
        #expect(a != c, "a new engine version changes the key")
        #expect(a != d, "the fingerprint depends on the state directory's key")
        #expect(a == (try CacheKey.compute(node: node(password: "hunter2"), inputs: [], fingerprinter: key, secrets: secrets)))
        #expect(!key.fingerprint("hunter2").contains("hunter2"))
    }

    @Test func inputDigestsAndPlacementsChangeTheKey() throws {
        let key = Fingerprinter(keyData: Data(repeating: 1, count: 32))
        let collect = StageNode(id: StageID(.collect, "www"), engine: "files", work: Nothing(version: "1"), summary: "")
        func input(_ text: String, at path: String = "db.sql") -> [StageContext.Input] {
            let edge = StageEdge(from: StageID(.dump, "www", "db"), to: collect.id, placement: .path(path), label: "db.sql")
            return [StageContext.Input(edge: edge, artifacts: [Artifact(kind: .blob, digest: .of(text), size: 1)])]
        }
        let one = try CacheKey.compute(node: collect, inputs: input("one"), fingerprinter: key, secrets: secrets)
        let two = try CacheKey.compute(node: collect, inputs: input("two"), fingerprinter: key, secrets: secrets)
        let moved = try CacheKey.compute(node: collect, inputs: input("one", at: "other.sql"), fingerprinter: key, secrets: secrets)
        #expect(one != two)
        #expect(one != moved)
        #expect(one == (try CacheKey.compute(node: collect, inputs: input("one"), fingerprinter: key, secrets: secrets)))
    }
}
