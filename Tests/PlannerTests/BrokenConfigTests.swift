import Foundation
import Pipeline
import Testing
@testable import Planner

/// Every file in BrokenConfigs/ starts with `# expect: LINE:COLUMN: fragment` (or `-` for no position):
/// loading it must fail with a diagnostic at that place whose message holds the fragment.
@Suite struct BrokenConfigTests {
    static let files: [String] = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.brokenConfigs.path))?
        .filter { $0.hasSuffix(".yaml") }.sorted() ?? []

    @Test func thereAreAtLeastThirtyBrokenConfigs() {
        #expect(Self.files.count >= 30)
    }

    @Test(arguments: files)
    func reportsTheExpectedError(file: String) throws {
        let path = Fixtures.brokenConfigs.appendingPathComponent(file).path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let header = try #require(text.split(separator: "\n").first.map(String.init))
        let expectation = header.replacingOccurrences(of: "# expect: ", with: "")
        let position = String(expectation.prefix { $0 != " " }.dropLast())
        let fragment = String(expectation.drop { $0 != " " }.dropFirst())
        var diagnostics: [Diagnostic] = []
        do {
            _ = try Compiler.compile(try ConfigLoader.load(.file(path)), builtins: Fixtures.builtins, secrets: Secrets(environment: [:]))
        } catch let error as ConfigError {
            diagnostics = error.diagnostics
        }
        let matching = diagnostics.filter { $0.message.contains(fragment) }
        #expect(!matching.isEmpty, "no diagnostic contains \(fragment): \(diagnostics)")
        if position != "-" {
            let parts = position.split(separator: ":").compactMap { Int($0) }
            #expect(matching.contains { $0.location?.line == parts[0] && $0.location?.column == parts[1] && $0.location?.file == path },
                    "expected \(position), got \(matching.map(\.description))")
        }
    }
}
