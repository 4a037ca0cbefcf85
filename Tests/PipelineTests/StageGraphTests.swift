import Testing
@testable import Pipeline

@Suite struct StageGraphTests {
    func node(_ id: String, _ kind: StageKind = .dump) -> StageNode {
        StageNode(id: id, kind: kind, engine: "e", group: .global, summary: id)
    }

    @Test func topologicalOrderPutsInputsFirstAndKeepsInsertionOrderForTies() throws {
        var graph = StageGraph()
        for id in ["upload", "dump-a", "dump-b", "collect"] { try graph.add(node(id)) }
        try graph.connect("dump-a", "collect", label: "a")
        try graph.connect("dump-b", "collect", label: "b")
        try graph.connect("collect", "upload", label: "tree")
        #expect(try graph.topologicalOrder().map(\.id) == ["dump-a", "dump-b", "collect", "upload"])
        #expect(graph.descendants(of: "dump-a") == ["collect", "upload"])
    }

    @Test func duplicateNodesAndEdgesToNowhereAreRejected() throws {
        var graph = StageGraph()
        try graph.add(node("a"))
        #expect(throws: StageGraph.GraphError.duplicateNode("a")) { try graph.add(node("a")) }
        #expect(throws: StageGraph.GraphError.danglingEdge(from: "a", to: "b")) { try graph.connect("a", "b", label: "") }
        try graph.add(node("b"))
        try graph.connect("a", "b", label: "x")
        try graph.connect("a", "b", label: "x")
        #expect(graph.edges.count == 1)
    }

    @Test func effectsAreTheStagesThatWriteOutside() {
        #expect(StageKind.allCases.filter(\.isEffect) == [.upload, .prune, .notify])
    }

    @Test func secretsPrintAsStars() {
        let secret = Secret(.literal("hunter2"))
        #expect("\(secret)" == "***")
        #expect(String(reflecting: secret) == "***")
        #expect(ParameterValue.secret(secret).displayText == "***")
        #expect(ParameterValue.map([("k", .secret(secret))]).displayText == "{k: ***}")
    }
}
