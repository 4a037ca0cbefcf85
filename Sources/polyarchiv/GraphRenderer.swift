import Pipeline
import Planner

/// `polyarchiv graph`: Graphviz dot (one cluster per point) or JSON.
enum GraphRenderer {
    static func shape(_ kind: StageKind) -> String {
        switch kind {
        case .dump: return "cylinder"
        case .filter: return "hexagon"
        case .collect: return "folder"
        case .archive: return "box3d"
        case .upload: return "cds"
        case .prune: return "octagon"
        case .verify: return "diamond"
        case .notify: return "note"
        case .fetch: return "cds"
        case .unfilter: return "hexagon"
        case .extract: return "box3d"
        case .putback: return "folder"
        }
    }

    static func groupLabel(_ group: PointScope) -> String {
        switch group {
        case .global: return "global"
        case .collectPoint(let name): return "collect point \(name)"
        case .backupPoint(let name): return "backup point \(name)"
        }
    }

    /// A dot string literal: quotes and backslashes escaped, newlines as \n.
    static func quoted(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            case "\r": break
            default: escaped.append(character)
            }
        }
        return "\"" + escaped + "\""
    }

    static func dot(_ pipeline: CompiledPipeline) -> String {
        let graph = pipeline.graph
        var lines = ["digraph polyarchiv {", "  rankdir=LR;", "  compound=true;",
                     "  node [fontname=\"Helvetica\", fontsize=10];", "  edge [fontname=\"Helvetica\", fontsize=9];"]
        func group(_ node: StageNode) -> PointScope { pipeline.roles[node.id]?.scope ?? .global }
        var groups: [PointScope] = []
        for node in graph.nodes where !groups.contains(group(node)) { groups.append(group(node)) }
        for (index, scope) in groups.enumerated() {
            let members = graph.nodes.filter { group($0) == scope }
            let group = scope
            if group != .global {
                lines.append("  subgraph \(quoted("cluster_\(index)")) {")
                lines.append("    label=\(quoted(groupLabel(group)));")
                lines.append("    style=rounded;")
            }
            for node in members {
                let label = node.id.description + "\n" + Redaction.maskingURLSecrets(node.summary)
                lines.append("    \(quoted(node.id.description)) [shape=\(shape(node.kind)), label=\(quoted(label))];")
            }
            if group != .global { lines.append("  }") }
        }
        for edge in graph.edges {
            lines.append("  \(quoted(edge.from.description)) -> \(quoted(edge.to.description)) [label=\(quoted(Redaction.maskingURLSecrets(edge.label)))];")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    struct JSONGraph: Encodable {
        struct Node: Encodable {
            let id: String
            let kind: String
            let engine: String
            let group: String
            let resources: [String]
            let runsAfterFailure: Bool
            enum CodingKeys: String, CodingKey { case id, kind, engine, group, resources, runsAfterFailure = "runs_after_failure" }
        }
        struct Edge: Encodable {
            let from: String
            let to: String
            let label: String
        }
        let nodes: [Node]
        let edges: [Edge]
    }

    static func json(_ pipeline: CompiledPipeline) -> String {
        let graph = pipeline.graph
        return JSONText.encode(JSONGraph(
            nodes: graph.nodes.map { .init(id: $0.id.description, kind: $0.kind.rawValue, engine: $0.engine,
                                           group: groupLabel(pipeline.roles[$0.id]?.scope ?? .global),
                                           resources: $0.resourceKeys, runsAfterFailure: $0.runsAfterFailure) },
            edges: graph.edges.map { .init(from: $0.from.description, to: $0.to.description, label: $0.label) }))
    }
}
