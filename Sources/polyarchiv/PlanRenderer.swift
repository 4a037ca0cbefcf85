import Foundation
import Pipeline
import Planner

/// `polyarchiv plan` as text or JSON.
enum PlanRenderer {
    static func text(_ plan: Plan) -> String {
        let pipeline = plan.pipeline
        let graph = pipeline.graph
        var lines: [String] = []
        let stamp = ISO8601DateFormatter.string(from: pipeline.date, timeZone: .current,
                                                formatOptions: [.withInternetDateTime])
        lines.append("Plan at \(stamp): \(pipeline.collectPoints.count) collect point(s), "
                     + "\(pipeline.backupPoints.count) backup point(s), \(graph.nodes.count) stage(s)")
        let width = max(8, graph.nodes.map { plan.state(of: $0.id).keyword.count }.max() ?? 0)
        func render(_ node: StageNode) -> String {
            let state = plan.state(of: node.id)
            var line = "  " + state.keyword.padding(toLength: width, withPad: " ", startingAt: 0) + " " + node.id.description
            line += "  " + Redaction.maskingURLSecrets(node.summary)
            if let why = reason(state) { line += "  [\(why)]" }
            for note in plan.notes[node.id] ?? [] { line += "\n      " + note }
            return line
        }
        func scope(_ node: StageNode) -> PointScope { pipeline.roles[node.id]?.scope ?? .global }
        let globalNodes = graph.nodes.filter { scope($0) == .global }
        if !globalNodes.isEmpty {
            lines.append("")
            lines.append("global")
            lines += globalNodes.map(render)
        }
        for point in pipeline.collectPoints {
            lines.append("")
            let receivers = pipeline.associations.filter { $0.collectPoint == point.name }.map(\.backupPoint)
            lines.append("collect point \(point.name) (\(point.engine), \(point.frequency)) → "
                         + (receivers.isEmpty ? "no backup point" : receivers.joined(separator: ", ")))
            lines += graph.nodes.filter { scope($0) == .collectPoint(point.name) }.map(render)
        }
        for point in pipeline.backupPoints {
            lines.append("")
            let senders = pipeline.associations.filter { $0.backupPoint == point.name }.map(\.collectPoint)
            lines.append("backup point \(point.name) (\(point.engine), \(point.frequency)) ← "
                         + (senders.isEmpty ? "no collect point" : senders.joined(separator: ", ")))
            lines += graph.nodes.filter { scope($0) == .backupPoint(point.name) }.map(render)
        }
        if !pipeline.warnings.isEmpty {
            lines.append("")
            lines += pipeline.warnings.map { $0.description.replacingOccurrences(of: ": error: ", with: ": warning: ") }
        }
        let states = graph.nodes.map { plan.state(of: $0.id) }
        let checks = states.filter { if case .check = $0 { return true } else { return false } }.count
        let conditional = states.filter { if case .cachedUnlessChanged = $0 { return true } else { return false } }.count
        let counts = Dictionary(grouping: states, by: \.keyword).mapValues(\.count)
        lines.append("")
        lines.append("\(plan.pendingCount) to run, \(checks) that always run (dumps, retention, verifications), \(counts["cached", default: 0]) cached"
                     + (conditional > 0 ? " (\(conditional) unless a dump changes)" : "")
                     + ", \(counts["skip", default: 0]) skipped, \(counts["blocked", default: 0]) blocked.")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Why a stage is in its state, when that is worth a bracket.
    static func reason(_ state: StageState) -> String? {
        switch state {
        case .run(let why), .skip(let why), .blocked(let why): return why
        case .cachedUnlessChanged(let dump): return "unless \(dump) changes"
        case .check, .cached: return nil
        }
    }

    struct JSONPlan: Encodable {
        let date: String
        let stages: [JSONStage]
        let warnings: [String]
        let summary: [String: Int]
    }

    struct JSONStage: Encodable {
        let id: String
        let kind: String
        let engine: String
        let group: String
        let state: String
        let reason: String?
        let inputs: [String]
        let resources: [String]
        let parameters: [String: String]
    }

    static func json(_ plan: Plan) -> String {
        let graph = plan.pipeline.graph
        let stages = graph.nodes.map { node -> JSONStage in
            let state = plan.state(of: node.id)
            return JSONStage(id: node.id.description, kind: node.kind.rawValue, engine: node.engine,
                             group: GraphRenderer.groupLabel(plan.pipeline.roles[node.id]?.scope ?? .global),
                             state: state.keyword, reason: reason(state), inputs: graph.inputs(of: node.id).map(\.from.description),
                             resources: node.resourceKeys,
                             parameters: Dictionary(uniqueKeysWithValues: node.parameters.map { ($0.name, $0.value.displayText) }))
        }
        let counts = Dictionary(grouping: graph.nodes, by: { plan.state(of: $0.id).keyword }).mapValues(\.count)
        let document = JSONPlan(date: ISO8601DateFormatter().string(from: plan.pipeline.date), stages: stages,
                                warnings: plan.pipeline.warnings.map(\.description),
                                summary: ["run": counts["run", default: 0], "pending": plan.pendingCount, "cached": counts["cached", default: 0],
                                          "skip": counts["skip", default: 0], "blocked": counts["blocked", default: 0]])
        return JSONText.encode(document)
    }
}

/// Every `--json` output: snake_case keys (by each type's CodingKeys), and `"schema": 1` in each document or line, raised when a field
/// changes meaning or goes away (added fields keep it). Documents are printed whole (indented); listings
/// that stream print one object per line, each with its `type`.
enum JSONText {
    static let schema = 1

    /// One document (plan, graph, check, restore).
    static func encode<T: Encodable>(_ value: T) -> String {
        render(Versioned(type: nil, payload: value), pretty: true)
    }

    /// One line of a listing (list, ls, find, diff).
    static func line<T: Encodable>(_ type: String, _ value: T) -> String {
        render(Versioned(type: type, payload: value), pretty: false)
    }

    private static func render<T: Encodable>(_ value: T, pretty: Bool) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The value's own fields, with `schema` (and `type`) beside them.
    private struct Versioned<Payload: Encodable>: Encodable {
        let type: String?
        let payload: Payload
        enum Keys: String, CodingKey { case schema, type }

        func encode(to encoder: Encoder) throws {
            try payload.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(JSONText.schema, forKey: .schema)
            try container.encodeIfPresent(type, forKey: .type)
        }
    }
}
