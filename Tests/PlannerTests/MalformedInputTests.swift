import Foundation
import Testing
import TestSupport
@testable import Planner

/// No input, however malformed, crashes or hangs the loader: each gives diagnostics.
@Suite struct MalformedInputTests {
    func diagnostics(of data: Data) -> [Diagnostic] {
        var sink = DiagnosticSink()
        if let node = YAMLReader.parse(data: data, file: "input.yaml", sink: &sink) {
            var config = PipelineConfig()
            var parser = ConfigParser()
            parser.parse(node, into: &config)
            return sink.diagnostics + parser.sink.diagnostics
        }
        return sink.diagnostics
    }

    @Test func binaryData() {
        var bytes = [UInt8](repeating: 0, count: 4096)
        for index in bytes.indices { bytes[index] = UInt8((index * 7919) % 256) }
        let found = diagnostics(of: Data(bytes))
        #expect(found.contains { $0.message.contains("binary data") })
    }

    @Test func invalidUTF8() {
        let found = diagnostics(of: Data([0x63, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]))
        #expect(found.contains { $0.message.contains("not valid UTF-8") })
    }

    @Test func deeplyNestedFlowSequences() {
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let found = diagnostics(of: Data(text.utf8))
        #expect(!found.isEmpty)
    }

    @Test func deeplyNestedBlockMaps() {
        var text = ""
        for depth in 0..<5_000 { text += String(repeating: " ", count: depth) + "k:\n" }
        let found = diagnostics(of: Data(text.utf8))
        #expect(!found.isEmpty)
    }

    @Test func aliasBombStopsAtTheNodeBudget() {
        var text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        var previous = "a"
        for level in 1...9 {
            let name = "l\(level)"
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
            previous = name
        }
        let found = diagnostics(of: Data(text.utf8))
        #expect(found.contains { $0.message.contains("alias bomb") })
    }

    @Test func hugeFileIsRefused() throws {
        let scratch = try TemporaryDirectory("pa-huge")
        let url = scratch.url.appendingPathComponent("huge.yaml")
        let line = "# " + String(repeating: "x", count: 1022) + "\n"
        try String(repeating: line, count: 5 * 1024).write(to: url, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        var sink = DiagnosticSink()
        #expect(YAMLReader.read(path: url.path, sink: &sink) == nil)
        #expect(sink.diagnostics.contains { $0.message.contains("larger than") })
    }

    @Test func wrongTypesEverywhere() {
        let yaml = """
            variables: [1, 2]
            collect_points:
              www:
                engine: [files]
                path: {a: b}
                sources: 12
            backup_points: "none"
            hooks: {engine: log}
            """
        let found = diagnostics(of: Data(yaml.utf8))
        #expect(found.count >= 4)
        #expect(found.allSatisfy { $0.location != nil })
    }

    @Test func allErrorsOfAFileAreReportedInOneRun() {
        let found = Fixtures.diagnostics("""
            collect_points:
              www:
                engine: files
                path: /var/backups/www
                frequency: sometimes
                sources:
                  a: {engine: files, pth: /srv/a}
                  b: {engine: postgresql, port: none}
            backup_points:
              out: {engine: archive, url: "file:///x/{name}.rar"}
            """)
        #expect(found.count >= 4, "\(found)")
    }

    @Test func missingFileAndDirectory() {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(.file("/nonexistent/polyarchiv.yaml")) }
        #expect(throws: ConfigError.self) { try ConfigLoader.load(.directory("/nonexistent/polyarchiv")) }
    }

    @Test func mergeKeysInheritParameters() throws {
        let pipeline = try Fixtures.compile("""
            x-defaults: &defaults
            collect_points:
              www:
                engine: files
                path: /var/backups/www
                sources:
                  a: &source {engine: files, path: /srv/a, exclude: ["*.tmp"]}
                  b: {<<: *source, path: /srv/b}
            """.replacingOccurrences(of: "x-defaults: &defaults\n", with: ""))
        let dump = try #require(pipeline.node("dump:www/b"))
        #expect(dump.parameters.string("path") == "/srv/b")
        #expect(dump.parameters["exclude"] == .list(["*.tmp"]))
    }
}
