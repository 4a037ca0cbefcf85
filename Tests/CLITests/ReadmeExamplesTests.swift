import Foundation
import Testing
import TestSupport

/// Every YAML example of the README is a configuration polyarchiv accepts: a whole one as it is, a fragment
/// (a backup point, a `keep:`) inside the smallest configuration around it.
@Suite struct ReadmeExamplesTests {
    static func blocks() throws -> [(line: Int, text: String)] {
        let readme = try String(contentsOf: CLI.repository.appendingPathComponent("README.md"), encoding: .utf8)
        var blocks: [(Int, String)] = []
        var current: (Int, [Substring])?
        for (number, line) in readme.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line == "```yaml" { current = (number + 2, []) } else if line == "```", let block = current {
                blocks.append((block.0, block.1.joined(separator: "\n") + "\n"))
                current = nil
            } else if current != nil { current!.1.append(line) }
        }
        return blocks
    }

    static let collectPoint = "collect_points:\n  www: {engine: files, path: \"/tmp/x/{name}\", sources: {a: {engine: files, path: /srv}}}\n"

    @Test func everyYAMLExampleValidates() throws {
        let blocks = try Self.blocks()
        #expect(blocks.count >= 5)
        let directory = try TemporaryDirectory()
        for (line, text) in blocks {
            var yaml = text
            if text.hasPrefix("keep:") {
                yaml = Self.collectPoint + "backup_points:\n  b:\n    engine: rolling_archive\n    url: \"file:///tmp/x/{name}-{Y}{m}{d}.tar.gz\"\n    "
                    + text
            } else if !text.contains("collect_points:") {
                yaml = Self.collectPoint + text
            }
            let file = directory.path("readme-\(line).yaml")
            try yaml.write(toFile: file, atomically: false, encoding: .utf8)
            let result = try CLI.run(["validate", "-q", "-c", file])
            #expect(result.status == 0, "README.md:\(line): \(result.stderr)")
        }
    }
}
