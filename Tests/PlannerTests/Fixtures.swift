import Foundation
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

    /// Writes `yaml` to a temporary file and loads it.
    static func load(_ yaml: String, name: String = "test.yaml") throws -> PipelineConfig {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("polyarchiv-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent(name)
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        return try ConfigLoader.load(.file(file.path))
    }

    static func compile(_ yaml: String, environment: [String: String] = [:]) throws -> CompiledPipeline {
        try Compiler.compile(try load(yaml), builtins: builtins, environment: environment)
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
