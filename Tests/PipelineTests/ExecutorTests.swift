import Foundation
import Testing
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

    struct SleepRunner: StageRunner {
        let version = "1"
        let alwaysRuns: Bool
        let recorder: Recorder
        let fail: Bool

        func run(_ context: StageContext) async throws -> [Artifact] {
            let start = Date()
            _ = try await context.blocking { usleep(200_000) }
            recorder.record(context.node.id, start, Date())
            if fail { throw StageFailure("boom") }
            let input = context.inputs.flatMap(\.artifacts).map(\.digest.hex).joined()
            return [try context.store.put(Data((context.node.id + input).utf8))]
        }
    }

    struct Fixture {
        let directory: URL
        let store: ContentStore
        let journal: Journal

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("pa-exec-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            store = try ContentStore(root: directory.appendingPathComponent("store"))
            journal = try Journal(path: directory.appendingPathComponent("journal.sqlite").path)
        }

        func run(_ graph: StageGraph, recorder: Recorder, jobs: Int = 4, failing: Set<String> = [],
                 limit: Int = 1) async throws -> [String: NodeOutcome] {
            let runID = try journal.startRun(command: "test", at: Date())
            let executor = Executor(
                graph: graph, store: store, journal: journal, pool: BlockingPool(threads: 4),
                fingerprinter: Fingerprinter(keyData: Data(repeating: 7, count: 32)),
                runners: { node in SleepRunner(alwaysRuns: node.kind == .dump, recorder: recorder, fail: failing.contains(node.id)) },
                decisions: [:], configuration: .init(jobs: jobs) { _ in limit }, events: { _ in },
                cancellation: CancellationFlag(), date: Date(), runID: runID, stateDirectory: directory)
            let results = await executor.run()
            return Dictionary(uniqueKeysWithValues: results.map { ($0.id, $0.outcome) })
        }
    }

    func node(_ id: String, _ kind: StageKind, resources: [String] = [], afterFailure: Bool = false) -> StageNode {
        StageNode(id: id, kind: kind, engine: "test", group: .global, resourceKeys: resources, runsAfterFailure: afterFailure,
                  summary: id)
    }

    func overlap(_ a: (Date, Date)?, _ b: (Date, Date)?) -> Bool {
        guard let a, let b else { return false }
        return a.0 < b.1 && b.0 < a.1
    }

    @Test func independentNodesOverlapAndAResourceLimitSerialisesThem() async throws {
        var graph = StageGraph()
        try graph.add(node("a", .dump))
        try graph.add(node("b", .dump))
        try graph.add(node("c", .dump, resources: ["postgresql:db1"]))
        try graph.add(node("d", .dump, resources: ["postgresql:db1"]))
        let recorder = Recorder()
        let outcomes = try await Fixture().run(graph, recorder: recorder)
        #expect(outcomes.values.allSatisfy { $0 == .succeeded })
        #expect(overlap(recorder.spans["a"], recorder.spans["b"]))
        #expect(!overlap(recorder.spans["c"], recorder.spans["d"]), "one dump at a time per database server")
    }

    @Test func jobsBoundsConcurrency() async throws {
        var graph = StageGraph()
        for id in ["a", "b", "c"] { try graph.add(node(id, .dump)) }
        let recorder = Recorder()
        _ = try await Fixture().run(graph, recorder: recorder, jobs: 1)
        #expect(!overlap(recorder.spans["a"], recorder.spans["b"]))
        #expect(!overlap(recorder.spans["b"], recorder.spans["c"]))
    }

    @Test func aFailureBlocksItsDescendantsOnlyAndHooksStillRun() async throws {
        var graph = StageGraph()
        try graph.add(node("bad", .dump))
        try graph.add(node("good", .dump))
        try graph.add(node("collect-bad", .collect))
        try graph.add(node("collect-good", .collect))
        try graph.add(node("upload-bad", .upload))
        try graph.add(node("notify", .notify, afterFailure: true))
        try graph.connect("bad", "collect-bad", label: "x")
        try graph.connect("good", "collect-good", label: "x")
        try graph.connect("collect-bad", "upload-bad", label: "tree")
        try graph.connect("upload-bad", "notify", label: "status")
        try graph.connect("collect-good", "notify", label: "status")
        let outcomes = try await Fixture().run(graph, recorder: Recorder(), failing: ["bad"])
        #expect(outcomes["bad"] == .failed)
        #expect(outcomes["collect-bad"] == .blocked)
        #expect(outcomes["upload-bad"] == .blocked)
        #expect(outcomes["collect-good"] == .succeeded)
        #expect(outcomes["notify"] == .succeeded)
    }

    @Test func aSecondRunWithTheSameInputsIsCachedButDumpsRunAgain() async throws {
        var graph = StageGraph()
        try graph.add(node("dump", .dump))
        try graph.add(node("collect", .collect))
        try graph.connect("dump", "collect", label: "x")
        let fixture = try Fixture()
        _ = try await fixture.run(graph, recorder: Recorder())
        let recorder = Recorder()
        let second = try await fixture.run(graph, recorder: recorder)
        #expect(second["dump"] == .succeeded)
        #expect(second["collect"] == .cached)
        #expect(recorder.runs == ["dump"])
        // The cached output vanishes from the store: the stage runs again.
        for digest in fixture.store.allObjects() { fixture.store.remove(digest) }
        let third = try await fixture.run(graph, recorder: Recorder())
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
    func node(password: String) -> StageNode {
        var parameters = Parameters()
        parameters["database"] = .string("app")
        parameters["password"] = .secret(Secret(.literal(password)))
        return StageNode(id: "dump:www/db", kind: .dump, engine: "postgresql", group: .global, parameters: parameters, summary: "")
    }

    @Test func secretsEnterOnlyAsAKeyedFingerprint() throws {
        let key = Fingerprinter(keyData: Data(repeating: 1, count: 32))
        let a = try CacheKey.compute(node: node(password: "hunter2"), version: "1", inputs: [], fingerprinter: key)
        let b = try CacheKey.compute(node: node(password: "hunter3"), version: "1", inputs: [], fingerprinter: key)
        let c = try CacheKey.compute(node: node(password: "hunter2"), version: "2", inputs: [], fingerprinter: key)
        let otherKey = Fingerprinter(keyData: Data(repeating: 2, count: 32))
        let d = try CacheKey.compute(node: node(password: "hunter2"), version: "1", inputs: [], fingerprinter: otherKey)
        #expect(a != b, "a changed secret changes the key")
        #expect(a != c, "a new engine version changes the key")
        #expect(a != d, "the fingerprint depends on the state directory's key")
        #expect(a == (try CacheKey.compute(node: node(password: "hunter2"), version: "1", inputs: [], fingerprinter: key)))
        #expect(!key.fingerprint("hunter2").contains("hunter2"))
    }

    @Test func inputDigestsChangeTheKey() throws {
        let key = Fingerprinter(keyData: Data(repeating: 1, count: 32))
        let collect = StageNode(id: "collect:www", kind: .collect, engine: "files", group: .global, summary: "")
        let edge = StageEdge(from: "dump:www/db", to: "collect:www", label: "db.sql")
        func input(_ text: String) -> [StageContext.Input] {
            [StageContext.Input(edge: edge, artifacts: [Artifact(kind: .blob, digest: .of(text), size: 1)])]
        }
        let one = try CacheKey.compute(node: collect, version: "1", inputs: input("one"), fingerprinter: key)
        let two = try CacheKey.compute(node: collect, version: "1", inputs: input("two"), fingerprinter: key)
        #expect(one != two)
        #expect(one == (try CacheKey.compute(node: collect, version: "1", inputs: input("one"), fingerprinter: key)))
    }
}
