/// The directed acyclic graph of stages that the planner builds and the executor runs.
public struct StageGraph: Sendable {
    public private(set) var nodes: [StageNode] = []
    public private(set) var edges: [StageEdge] = []
    private var indexByID: [StageID: Int] = [:]
    private var incoming: [StageID: [StageEdge]] = [:]
    private var outgoing: [StageID: [StageEdge]] = [:]

    public init() {}

    public enum GraphError: Error, Equatable, CustomStringConvertible {
        case duplicateNode(StageID)
        case danglingEdge(from: StageID, to: StageID)
        case cycle([StageID])

        public var description: String {
            switch self {
            case .duplicateNode(let id): return "stage \(id) is defined twice"
            case let .danglingEdge(from, to): return "edge \(from) → \(to) names a stage that does not exist"
            case .cycle(let path): return "dependency cycle: " + path.map(\.description).joined(separator: " → ")
            }
        }
    }

    public func node(_ id: StageID) -> StageNode? {
        indexByID[id].map { nodes[$0] }
    }

    public func contains(_ id: StageID) -> Bool { indexByID[id] != nil }

    public mutating func add(_ node: StageNode) throws {
        guard indexByID[node.id] == nil else { throw GraphError.duplicateNode(node.id) }
        indexByID[node.id] = nodes.count
        nodes.append(node)
    }

    /// Adds an edge; an identical edge is added once.
    public mutating func connect(_ from: StageID, _ to: StageID, placement: Placement, label: String) throws {
        guard indexByID[from] != nil, indexByID[to] != nil else { throw GraphError.danglingEdge(from: from, to: to) }
        let edge = StageEdge(from: from, to: to, placement: placement, label: label)
        guard !edges.contains(edge) else { return }
        edges.append(edge)
        incoming[to, default: []].append(edge)
        outgoing[from, default: []].append(edge)
    }

    public func inputs(of id: StageID) -> [StageEdge] { incoming[id] ?? [] }
    public func outputs(of id: StageID) -> [StageEdge] { outgoing[id] ?? [] }

    /// Every node that `ids` depend on, directly or not, in the order the nodes were added.
    public func ancestors(of ids: some Sequence<StageID>) -> [StageID] {
        var seen = Set<StageID>()
        var stack = Array(ids)
        while let current = stack.popLast() {
            for edge in inputs(of: current) where seen.insert(edge.from).inserted {
                stack.append(edge.from)
            }
        }
        return nodes.map(\.id).filter(seen.contains)
    }

    /// Every node that depends, directly or not, on `id`.
    public func descendants(of id: StageID) -> Set<StageID> {
        var seen = Set<StageID>()
        var stack = [id]
        let successors = successorMap()
        while let current = stack.popLast() {
            for next in successors[current, default: []] where seen.insert(next).inserted {
                stack.append(next)
            }
        }
        return seen
    }

    /// Nodes in an order where every node comes after its inputs; ties keep insertion order.
    /// Throws `cycle` with the nodes of one cycle when there is one.
    public func topologicalOrder() throws -> [StageNode] {
        var indegree = [StageID: Int]()
        for node in nodes { indegree[node.id] = 0 }
        for edge in edges { indegree[edge.to, default: 0] += 1 }
        let successors = successorMap()
        var ready = nodes.filter { indegree[$0.id] == 0 }.map(\.id)
        var order: [StageNode] = []
        var cursor = 0
        while cursor < ready.count {
            let id = ready[cursor]
            cursor += 1
            order.append(nodes[indexByID[id]!])
            for next in successors[id, default: []] {
                indegree[next]! -= 1
                if indegree[next] == 0 { ready.append(next) }
            }
        }
        if order.count != nodes.count {
            throw GraphError.cycle(findCycle(among: Set(nodes.map(\.id)).subtracting(order.map(\.id))))
        }
        return order
    }

    private func successorMap() -> [StageID: [StageID]] {
        var map = [StageID: [StageID]]()
        for edge in edges { map[edge.from, default: []].append(edge.to) }
        return map
    }

    private func findCycle(among remaining: Set<StageID>) -> [StageID] {
        let successors = successorMap()
        guard let start = nodes.first(where: { remaining.contains($0.id) })?.id else { return [] }
        // Walk forward inside the remaining set until a node repeats: that closes a cycle.
        var path = [start]
        var position = [start: 0]
        var current = start
        while let next = successors[current, default: []].first(where: { remaining.contains($0) }) {
            if let index = position[next] { return Array(path[index...]) + [next] }
            position[next] = path.count
            path.append(next)
            current = next
        }
        return path
    }
}
