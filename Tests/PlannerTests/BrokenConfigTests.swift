import Foundation
import Pipeline
import Testing
import TestSupport
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
        // In one pass (as the commands read it), the compiler's problems come with the reader's: the same one is there.
        var onePass: [Diagnostic] = []
        do {
            _ = try Compiler.compile(try ConfigLoader.load(.file(path), deferringErrors: true), builtins: Fixtures.builtins,
                                     secrets: Secrets(environment: [:]))
        } catch let error as ConfigError {
            onePass = error.diagnostics
        }
        #expect(onePass.contains { $0.message.contains(fragment) }, "one pass: \(onePass)")
        let matching = diagnostics.filter { $0.message.contains(fragment) }
        #expect(!matching.isEmpty, "no diagnostic contains \(fragment): \(diagnostics)")
        if position != "-" {
            let parts = position.split(separator: ":").compactMap { Int($0) }
            #expect(matching.contains { $0.location?.line == parts[0] && $0.location?.column == parts[1] && $0.location?.file == path },
                    "expected \(position), got \(matching.map(\.description))")
        }
    }
}

/// Problems of every kind come in one report: an unknown key, a relative path, an undefined variable and
/// overlapping destinations, each fixed in turn, would otherwise take four runs to learn of.
@Suite struct OnePassTests {
    @Test func everyProblemIsReportedAtOnce() throws {
        let scratch = try TemporaryDirectory("pa-config")
        let file = scratch.url.appendingPathComponent("all.yaml").path
        try """
            collect_points:
              www:
                engine: files
                path: relative/collect
                colour: blue
                sources:
                  a: {engine: files, path: "/srv/{nosuch}", destination: data}
                  b: {engine: files, path: /srv/b, destination: data/b}
            """.write(toFile: file, atomically: false, encoding: .utf8)
        var diagnostics: [Diagnostic] = []
        do {
            _ = try Compiler.compile(try ConfigLoader.load(.file(file), deferringErrors: true), builtins: Fixtures.builtins,
                                     secrets: Secrets(environment: [:]))
        } catch let error as ConfigError {
            diagnostics = error.diagnostics
        }
        let messages = diagnostics.map(\.message).joined(separator: "\n")
        #expect(messages.contains("colour"), "unknown key: \(messages)")
        #expect(messages.contains("must be an absolute path"), "relative path: \(messages)")
        #expect(messages.contains("{nosuch}"), "undefined variable: \(messages)")
        #expect(messages.contains("overlap"), "overlapping destinations: \(messages)")
    }
}
