import Pipeline
import Yams

/// `polyarchiv validate`: the configuration after variables, defaults and tag rules, secrets masked.
public enum ResolvedConfigRenderer {
    public static func yaml(_ pipeline: CompiledPipeline) -> String {
        let graph = pipeline.graph
        func scalar(_ text: String) -> Node { Node(text) }
        func parameters(_ node: StageNode, skipping: Set<String> = []) -> [(Node, Node)] {
            node.parameters.filter { !skipping.contains($0.name) }.map { (scalar($0.name), render($0.value)) }
        }
        func render(_ value: ParameterValue) -> Node {
            switch value {
            case .list(let items): return Node(items.map { scalar(Redaction.maskingURLPassword($0)) }, .implicit, .flow)
            case .map(let entries): return Node(entries.map { entry in (scalar(entry.0), render(entry.1)) })
            default: return scalar(value.displayText)
            }
        }
        var collectPoints: [(Node, Node)] = []
        for point in pipeline.collectPoints {
            guard let collect = graph.node("collect:\(point.name)") else { continue }
            var pairs: [(Node, Node)] = [(scalar("engine"), scalar(point.engine))]
            pairs += parameters(collect)
            pairs.append((scalar("tags"), Node(point.tags.map(scalar), .implicit, .flow)))
            let receivers = pipeline.associations.filter { $0.collectPoint == point.name }.map { scalar($0.backupPoint) }
            pairs.append((scalar("backed_up_by"), Node(receivers, .implicit, .flow)))
            let dumps = graph.nodes.filter { $0.kind == .dump && $0.collectPoint == point.name }
            pairs.append((scalar("sources"), Node(dumps.map { dump in
                (scalar(String(dump.id.split(separator: "/", maxSplits: 1).last ?? "")),
                 Node([(scalar("engine"), scalar(dump.engine))] + parameters(dump)))
            })))
            let filters = graph.nodes.filter { $0.kind == .filter && $0.group == .collectPoint(point.name) }
            if !filters.isEmpty {
                pairs.append((scalar("filters"), Node(filters.map { Node([(scalar("engine"), scalar($0.engine))] + parameters($0)) })))
            }
            collectPoints.append((scalar(point.name), Node(pairs)))
        }
        var backupPoints: [(Node, Node)] = []
        for point in pipeline.backupPoints {
            var pairs: [(Node, Node)] = [(scalar("engine"), scalar(point.engine)),
                                         (scalar("frequency"), scalar(point.frequency.description)),
                                         (scalar("tags"), Node(point.tags.map(scalar), .implicit, .flow))]
            var perCollectPoint: [(Node, Node)] = []
            for association in pipeline.associations where association.backupPoint == point.name {
                guard let upload = graph.node("upload:\(point.name)/\(association.collectPoint)") else { continue }
                var details = parameters(upload, skipping: ["frequency"])
                if let prune = graph.node("prune:\(point.name)/\(association.collectPoint)"), let keep = prune.parameters["keep"] {
                    details.append((scalar("keep"), render(keep)))
                }
                let filters = graph.nodes.filter { $0.kind == .filter && $0.backupPoint == point.name
                    && $0.collectPoint == association.collectPoint }
                if !filters.isEmpty {
                    details.append((scalar("filters"), Node(filters.map { Node([(scalar("engine"), scalar($0.engine))] + parameters($0)) })))
                }
                perCollectPoint.append((scalar(association.collectPoint), Node(details)))
            }
            pairs.append((scalar("collect_points"), Node(perCollectPoint)))
            backupPoints.append((scalar(point.name), Node(pairs)))
        }
        var root: [(Node, Node)] = [(scalar("collect_points"), Node(collectPoints))]
        if !backupPoints.isEmpty { root.append((scalar("backup_points"), Node(backupPoints))) }
        let hooks = graph.nodes.filter { $0.kind == .notify }
        if !hooks.isEmpty {
            root.append((scalar("hooks"), Node(hooks.map { hook in
                Node([(scalar("id"), scalar(hook.id)), (scalar("engine"), scalar(hook.engine))] + parameters(hook))
            })))
        }
        return (try? Yams.serialize(node: Node(root), width: -1, allowUnicode: true)) ?? ""
    }
}
