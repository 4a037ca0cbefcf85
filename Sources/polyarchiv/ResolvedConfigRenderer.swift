import Pipeline
import Planner
import Yams

/// `polyarchiv validate`: the configuration after variables, defaults and tag rules, secrets masked.
enum ResolvedConfigRenderer {
    static func yaml(_ pipeline: CompiledPipeline) -> String {
        let graph = pipeline.graph
        func scalar(_ text: String) -> Node { Node(text) }
        func parameters(_ node: StageNode) -> [(Node, Node)] {
            node.parameters.map { (scalar($0.name), render($0.value)) }
        }
        func render(_ value: ParameterValue) -> Node {
            switch value {
            case .list(let items): return Node(items.map { scalar(Redaction.maskingURLSecrets($0)) }, .implicit, .flow)
            case .map(let entries):
                return Node(entries.map { entry in (scalar(entry.0), Redaction.isSensitiveName(entry.0) ? scalar(Secret.mask) : render(entry.1)) })
            default: return scalar(value.displayText)
            }
        }
        func stage(_ node: StageNode) -> Node { Node([(scalar("engine"), scalar(node.engine))] + parameters(node)) }
        var collectPoints: [(Node, Node)] = []
        for point in pipeline.collectPoints {
            guard let collect = pipeline.nodes(where: { $0 == .collect(collectPoint: point.name) }).first else { continue }
            var pairs: [(Node, Node)] = [(scalar("engine"), scalar(point.engine))]
            pairs += parameters(collect)
            pairs.append((scalar("frequency"), scalar(point.frequency.description)))
            pairs.append((scalar("tags"), Node(point.tags.map(scalar), .implicit, .flow)))
            let receivers = pipeline.associations.filter { $0.collectPoint == point.name }.map { scalar($0.backupPoint) }
            pairs.append((scalar("backed_up_by"), Node(receivers, .implicit, .flow)))
            var sources: [(Node, Node)] = []
            for (id, role) in pipeline.roles.sorted(by: { $0.key < $1.key }) {
                guard case .dump(point.name, let source) = role, let node = graph.node(id) else { continue }
                let destination = pipeline.collects[point.name]?.sources.first { $0.name == source }?.destination ?? ""
                sources.append((scalar(source), Node([(scalar("engine"), scalar(node.engine)), (scalar("destination"), scalar(destination))]
                                                      + parameters(node))))
            }
            pairs.append((scalar("sources"), Node(sources)))
            let filters = pipeline.nodes { if case .collectFilter(point.name, _) = $0 { return true } else { return false } }
            if !filters.isEmpty { pairs.append((scalar("filters"), Node(filters.map(stage)))) }
            collectPoints.append((scalar(point.name), Node(pairs)))
        }
        var backupPoints: [(Node, Node)] = []
        for point in pipeline.backupPoints {
            var pairs: [(Node, Node)] = [(scalar("engine"), scalar(point.engine)),
                                         (scalar("frequency"), scalar(point.frequency.description)),
                                         (scalar("tags"), Node(point.tags.map(scalar), .implicit, .flow))]
            var perCollectPoint: [(Node, Node)] = []
            for association in pipeline.associations where association.backupPoint == point.name {
                let cp = association.collectPoint
                var details: [(Node, Node)] = pipeline.backup(point.name, cp)?.parameters.map { (scalar($0.name), render($0.value)) } ?? []
                for node in pipeline.nodes(where: { $0 == .upload(backupPoint: point.name, collectPoint: cp) }) {
                    if let metadata = node.parameters["metadata_url"], pipeline.backup(point.name, cp)?.parameters["metadata_url"] == nil {
                        details.append((scalar("metadata_url"), render(metadata)))
                    }
                }
                let filters = pipeline.nodes { role in
                    if case .backupFilter(point.name, cp, _) = role { return true } else { return false }
                }
                if !filters.isEmpty { details.append((scalar("filters"), Node(filters.map(stage)))) }
                perCollectPoint.append((scalar(cp), Node(details)))
            }
            pairs.append((scalar("collect_points"), Node(perCollectPoint)))
            backupPoints.append((scalar(point.name), Node(pairs)))
        }
        var root: [(Node, Node)] = [(scalar("collect_points"), Node(collectPoints))]
        if !backupPoints.isEmpty { root.append((scalar("backup_points"), Node(backupPoints))) }
        let hooks = graph.nodes.filter { $0.kind == .notify }
        if !hooks.isEmpty {
            root.append((scalar("hooks"), Node(hooks.map { hook in
                Node([(scalar("id"), scalar(hook.id.description)), (scalar("engine"), scalar(hook.engine))] + parameters(hook))
            })))
        }
        return (try? Yams.serialize(node: Node(root), width: -1, allowUnicode: true)) ?? ""
    }
}
