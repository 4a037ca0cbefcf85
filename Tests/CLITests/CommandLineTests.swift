import Foundation
import Testing

/// Runs the real `polyarchiv` binary, as a user would.
@Suite struct CommandLineTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["POLYARCHIV_BIN"] { return URL(fileURLWithPath: path) }
        // The test bundle sits beside the executable in the build directory.
        let candidates = [Bundle.main.bundleURL.deletingLastPathComponent(), Bundle.main.bundleURL,
                          repository.appendingPathComponent(".build/debug")]
        for directory in candidates {
            let url = directory.appendingPathComponent("polyarchiv")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return repository.appendingPathComponent(".build/debug/polyarchiv")
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func run(_ arguments: [String], input: Data? = nil, environment: [String: String]? = nil) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting, so a large output cannot block the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    static func pipeline(_ name: String) -> String { repository.appendingPathComponent("pipelines/\(name)").path }

    static func temporaryFile(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pa-cli-\(UUID().uuidString).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test(arguments: [[], ["validate"], ["plan"], ["apply"], ["check"], ["gc"], ["list"], ["restore"], ["graph"], ["engines"],
                      ["import-ini"]])
    func everyCommandHasHelpWithAnExample(_ command: [String]) throws {
        let result = try Self.run(command + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Example"), "\(command)")
    }

    @Test func versionNamesTheLinkedLibraries() throws {
        let result = try Self.run(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("libgit2") && result.stdout.contains("libcurl") && result.stdout.contains("libarchive"))
    }

    @Test func validatePrintsTheResolvedConfig() throws {
        let result = try Self.run(["validate", "-c", Self.pipeline("demo.yaml")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("path: /tmp/polyarchiv-demo/collect/notes"))
        #expect(try Self.run(["config", "-q", "-c", Self.pipeline("demo.yaml")]).stdout.isEmpty)
    }

    @Test func aBrokenConfigExitsOneWithPositionsAndRunsNothing() throws {
        let file = try Self.temporaryFile("collect_points:\n  www:\n    engine: fils\n    path: /x\n    sources: {}\n")
        for command in ["validate", "plan", "graph"] {
            let result = try Self.run([command, "-c", file])
            #expect(result.status == 1)
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains("\(file):3:13: error: unknown collect point engine `fils` (did you mean `files`?)"))
        }
    }

    @Test func planDetailedExitcodeSaysWorkIsPending() throws {
        let text = try Self.run(["plan", "-c", Self.pipeline("demo.yaml")])
        #expect(text.status == 0)
        #expect(text.stdout.contains("run      dump:notes/documents"))
        let detailed = try Self.run(["plan", "--detailed-exitcode", "-c", Self.pipeline("demo.yaml")])
        #expect(detailed.status == 2)
        let json = try Self.run(["plan", "--format", "json", "-c", Self.pipeline("website.yaml")])
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let stages = document?["stages"] as? [[String: Any]]
        #expect(stages?.count == 9)
        #expect(stages?.allSatisfy { $0["state"] as? String == "run" } == true)
    }

    @Test func missingDefaultDirectoryIsOneClearLine() throws {
        let result = try Self.run(["plan", "-C", "/nonexistent/polyarchiv"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("configuration directory /nonexistent/polyarchiv does not exist"))
    }

    @Test func enginesListsEveryEngineAndItsAliasWorks() throws {
        let plain = try Self.run(["plugins"])
        #expect(plain.status == 0)
        for name in ["remote_files", "rolling_archive", "restic", "gitlab", "dovecot", "email"] {
            #expect(plain.stdout.contains(name))
        }
        let verbose = try Self.run(["engines", "-v"])
        #expect(verbose.stdout.contains("keep (retention, required)"))
    }

    /// The README's configuration reference is the output of `engines --format markdown`, so they cannot drift.
    @Test func readmeReferenceMatchesTheEngineDescriptions() throws {
        let markdown = try Self.run(["engines", "--format", "markdown"]).stdout
        let readme = try String(contentsOf: Self.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let begin = "<!-- BEGIN ENGINE REFERENCE (polyarchiv engines --format markdown) -->\n"
        let end = "<!-- END ENGINE REFERENCE -->"
        let start = try #require(readme.range(of: begin))
        let stop = try #require(readme.range(of: end))
        #expect(String(readme[start.upperBound..<stop.lowerBound]) == markdown,
                "regenerate with scripts/update-readme-reference.sh")
    }

    /// Graphviz must accept every graph we draw.
    @Test(arguments: ["demo.yaml", "website.yaml", "multi-site.yaml"])
    func dotAcceptsTheGraph(_ file: String) throws {
        let graph = try Self.run(["graph", "-c", Self.pipeline(file)])
        #expect(graph.status == 0)
        guard let dot = ["/usr/bin/dot", "/usr/local/bin/dot"].first(where: FileManager.default.isExecutableFile) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("graphviz `dot` is missing; .ci/run must install the graphviz package")
            } else {
                print("skipped: graphviz `dot` is not installed (apt-get install graphviz)")
            }
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: dot)
        process.arguments = ["-Tsvg"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(graph.stdout.utf8))
        try input.fileHandleForWriting.close()
        let svg = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(problems)")
        #expect(problems.isEmpty, "\(problems)")
        #expect(svg.contains("<svg"))
        #expect(svg.contains("cluster"))
    }
}
