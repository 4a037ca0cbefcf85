import Pipeline

/// `polyarchiv graph`: Graphviz dot (one cluster per point) or JSON.
public enum GraphRenderer {
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
        }
    }

    static func groupLabel(_ group: StageGroup) -> String {
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

    public static func dot(_ pipeline: CompiledPipeline) -> String {
        let graph = pipeline.graph
        var lines = ["digraph polyarchiv {", "  rankdir=LR;", "  compound=true;",
                     "  node [fontname=\"Helvetica\", fontsize=10];", "  edge [fontname=\"Helvetica\", fontsize=9];"]
        var groups: [StageGroup] = []
        for node in graph.nodes where !groups.contains(node.group) { groups.append(node.group) }
        for (index, group) in groups.enumerated() {
            let members = graph.nodes.filter { $0.group == group }
            if group != .global {
                lines.append("  subgraph \(quoted("cluster_\(index)")) {")
                lines.append("    label=\(quoted(groupLabel(group)));")
                lines.append("    style=rounded;")
            }
            for node in members {
                let label = node.id + "\n" + Redaction.maskingURLPassword(node.summary)
                lines.append("    \(quoted(node.id)) [shape=\(shape(node.kind)), label=\(quoted(label))];")
            }
            if group != .global { lines.append("  }") }
        }
        for edge in graph.edges {
            lines.append("  \(quoted(edge.from)) -> \(quoted(edge.to)) [label=\(quoted(edge.label))];")
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
        }
        struct Edge: Encodable {
            let from: String
            let to: String
            let label: String
        }
        let nodes: [Node]
        let edges: [Edge]
    }

    public static func json(_ pipeline: CompiledPipeline) -> String {
        let graph = pipeline.graph
        return JSONText.encode(JSONGraph(
            nodes: graph.nodes.map { .init(id: $0.id, kind: $0.kind.rawValue, engine: $0.engine, group: groupLabel($0.group),
                                           resources: $0.resourceKeys, runsAfterFailure: $0.runsAfterFailure) },
            edges: graph.edges.map { .init(from: $0.from, to: $0.to, label: $0.label) }))
    }
}
