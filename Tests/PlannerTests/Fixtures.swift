import Foundation
import Pipeline
import TestSupport
@testable import Planner

/// Paths inside the repository, found from this file's place in it.
enum Fixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let pipelines = repository.appendingPathComponent("pipelines")
    static let brokenConfigs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("BrokenConfigs")

    /// A fixed instant and host, so expansions are predictable: 2026-03-04 05:06:07 UTC.
    static let builtins = BuiltinVariables(date: Date(timeIntervalSince1970: 1_772_600_767), hostname: "host1",
                                           fqdn: "host1.example.org", username: "backup")

    /// Writes `yaml` to a temporary file, loads it, and removes it.
    static func load(_ yaml: String, name: String = "test.yaml") throws -> PipelineConfig {
        let scratch = try TemporaryDirectory("pa-config")
        let file = scratch.url.appendingPathComponent(name)
        try yaml.write(to: file, atomically: false, encoding: .utf8)
        return try ConfigLoader.load(.file(file.path))
    }

    static func compile(_ yaml: String, environment: [String: String] = [:]) throws -> CompiledPipeline {
        try Compiler.compile(try load(yaml), builtins: builtins, secrets: Secrets(environment: environment))
    }

    /// The diagnostics of a configuration that must fail.
    static func diagnostics(_ yaml: String) -> [Diagnostic] {
        do {
            _ = try compile(yaml)
            return []
        } catch let error as ConfigError {
            return error.diagnostics
        } catch {
            return [Diagnostic("unexpected \(error)", at: nil)]
        }
    }

    static let minimal = """
        collect_points:
          www:
            engine: files
            path: /var/backups/www
            sources:
              site: {engine: files, path: /srv/www}
        """
}

/// Stages by their text id, as plans and the journal show them.
extension CompiledPipeline {
    func node(_ id: String) -> StageNode? { graph.nodes.first { $0.id.description == id } }
    func ids(_ nodes: [StageNode]) -> [String] { nodes.map(\.id.description) }
    func inputs(of id: String) -> [String] { node(id).map { graph.inputs(of: $0.id).map(\.from.description) } ?? [] }
    func destination(_ collectPoint: String, _ source: String) -> String? {
        collects[collectPoint]?.sources.first { $0.name == source }?.destination
    }
    func outputs(of id: String) -> [String] { node(id).map { graph.outputs(of: $0.id).map(\.to.description) } ?? [] }
}
