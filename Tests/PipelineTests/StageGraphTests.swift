import Foundation
import Testing
@testable import Pipeline

@Suite struct StageGraphTests {
    struct Nothing: StageWork {
        let version = "1"
        let alwaysRuns = false
        func run(_ context: StageContext) async throws -> [Artifact] { [] }
    }

    func node(_ name: String, _ kind: StageKind = .dump) -> StageNode {
        StageNode(id: StageID(kind, name), engine: "e", work: Nothing(), summary: name)
    }

    func id(_ name: String, _ kind: StageKind = .dump) -> StageID { StageID(kind, name) }

    @Test func topologicalOrderPutsInputsFirstAndKeepsInsertionOrderForTies() throws {
        var graph = StageGraph()
        for name in ["upload", "dump-a", "dump-b", "collect"] { try graph.add(node(name)) }
        try graph.connect(id("dump-a"), id("collect"), placement: .path("a"), label: "a")
        try graph.connect(id("dump-b"), id("collect"), placement: .path("b"), label: "b")
        try graph.connect(id("collect"), id("upload"), placement: .root, label: "tree")
        #expect(try graph.topologicalOrder().map(\.id.description) == ["dump:dump-a", "dump:dump-b", "dump:collect", "dump:upload"])
        #expect(graph.descendants(of: id("dump-a")) == [id("collect"), id("upload")])
    }

    @Test func duplicateNodesAndEdgesToNowhereAreRejected() throws {
        var graph = StageGraph()
        try graph.add(node("a"))
        #expect(throws: StageGraph.GraphError.duplicateNode(id("a"))) { try graph.add(node("a")) }
        #expect(throws: StageGraph.GraphError.danglingEdge(from: id("a"), to: id("b"))) {
            try graph.connect(id("a"), id("b"), placement: .root, label: "")
        }
        try graph.add(node("b"))
        try graph.connect(id("a"), id("b"), placement: .root, label: "x")
        try graph.connect(id("a"), id("b"), placement: .root, label: "x")
        #expect(graph.edges.count == 1)
    }

    @Test func cyclesAreDetected() throws {
        var graph = StageGraph()
        for name in ["a", "b", "c"] { try graph.add(node(name, .filter)) }
        try graph.connect(id("a", .filter), id("b", .filter), placement: .root, label: "")
        try graph.connect(id("b", .filter), id("c", .filter), placement: .root, label: "")
        try graph.connect(id("c", .filter), id("b", .filter), placement: .root, label: "")
        #expect(throws: StageGraph.GraphError.cycle([id("b", .filter), id("c", .filter), id("b", .filter)])) { try graph.topologicalOrder() }
    }

    @Test func stageIDsPrintAndDecodeInTheirStableForm() throws {
        let id = StageID(.upload, "offsite", "www")
        #expect(id.description == "upload:offsite/www")
        let encoded = try JSONEncoder().encode(id)
        #expect(try JSONDecoder().decode(StageID.self, from: encoded) == id)
    }

    @Test func effectsAreTheStagesThatWriteOutside() {
        #expect(StageKind.allCases.filter(\.isEffect) == [.upload, .prune, .notify, .putback])
    }

    @Test func secretsPrintAsStars() {
        let secret = Secret(.literal("hunter2"))
        #expect("\(secret)" == "***")
        #expect(String(reflecting: secret) == "***")
        #expect(ParameterValue.secret(secret).displayText == "***")
        #expect(ParameterValue.map([("k", .secret(secret))]).displayText == "{k: ***}")
    }
}
