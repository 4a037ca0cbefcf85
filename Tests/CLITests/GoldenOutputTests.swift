import Foundation
import Pipeline
@testable import Planner
import Testing
import TestSupport
@testable import polyarchiv

/// `plan` and `graph` of every pipeline under pipelines/, compared with the outputs kept in Golden/: a change
/// of what polyarchiv would do shows as a diff. `UPDATE_GOLDEN=1 swift test --filter GoldenOutputTests` rewrites them.
@Suite struct GoldenOutputTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static let pipelines = (try? FileManager.default.contentsOfDirectory(atPath: CLI.repository.appendingPathComponent("pipelines").path))?
        .filter { $0.hasSuffix(".yaml") }.sorted() ?? []

    /// A fixed instant, host and user, so the expansions are the same everywhere: 2026-03-04 05:06:07 UTC.
    static let builtins = BuiltinVariables(date: Date(timeIntervalSince1970: 1_772_600_767), hostname: "host1",
                                           fqdn: "host1.example.org", username: "backup")

    func compare(_ text: String, _ name: String) throws {
        // Paths relative to the repository, wherever it is checked out.
        let output = text.replacingOccurrences(of: CLI.repository.path + "/", with: "")
        let file = Self.golden.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try output.write(to: file, atomically: false, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(output == expected, "\(name) changed; if that is intended: UPDATE_GOLDEN=1 swift test --filter GoldenOutputTests")
    }

    @Test(arguments: pipelines)
    func planAndGraphAreAsKept(_ file: String) throws {
        setenv("TZ", "UTC", 1)
        tzset()
        let config = try ConfigLoader.load(.file(CLI.pipeline(file)))
        let pipeline = try Compiler.compile(config, builtins: Self.builtins, secrets: Secrets(environment: [:]))
        let name = (file as NSString).deletingPathExtension
        try compare(PlanRenderer.text(Plan.make(pipeline, state: nil, secrets: Secrets(environment: [:]))), name + ".plan.txt")
        try compare(GraphRenderer.dot(pipeline), name + ".dot")
    }

    @Test func everyPipelineHasItsGoldenOutputs() throws {
        #expect(Self.pipelines.count >= 3)
        for file in Self.pipelines {
            let name = (file as NSString).deletingPathExtension
            for suffix in [".plan.txt", ".dot"] {
                #expect(FileManager.default.fileExists(atPath: Self.golden.appendingPathComponent(name + suffix).path), "\(name)\(suffix)")
            }
        }
    }
}
