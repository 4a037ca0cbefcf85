import Foundation
import Testing
import TestSupport

/// Runs the real `polyarchiv` binary, as a user would.
@Suite struct CommandLineTests {
    @Test(arguments: [[], ["validate"], ["plan"], ["apply"], ["check"], ["gc"], ["list"], ["restore"], ["graph"], ["engines"],
                      ["import-ini"], ["keygen"], ["init"], ["prune"]])
    func everyCommandHasHelpWithAnExample(_ command: [String]) throws {
        let result = try CLI.run(command + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Example"), "\(command)")
    }

    /// The identity opens what age encrypts to the recipient, and age derives the same recipient from it.
    @Test func keygenPrintsAnIdentityAgeAccepts() throws {
        let directory = try TemporaryDirectory()
        let result = try CLI.run(["keygen"])
        #expect(result.status == 0)
        #expect(result.stderr.contains("somewhere other than this host"), "\(result.stderr)")
        let identity = directory.path("identity.txt")
        try result.stdout.write(toFile: identity, atomically: false, encoding: .utf8)
        let recipient = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("# public key: ") }?
            .dropFirst("# public key: ".count)).trimmingCharacters(in: .whitespaces)
        #expect(try Sandbox.shell("age-keygen -y '\(identity)'").output.trimmingCharacters(in: .whitespacesAndNewlines) == recipient)
        let round = try Sandbox.shell("echo 'the only copy' | age -r \(recipient) | age -d -i '\(identity)'")
        #expect(round.output == "the only copy\n", "\(round.output)")
        #expect(try CLI.run(["keygen"]).stdout != result.stdout, "a new key each time")
    }

    /// `keygen -o FILE`: the identity in a new file only its owner reads; an existing file is never overwritten.
    @Test func keygenWritesTheIdentityToANewPrivateFile() throws {
        let directory = try TemporaryDirectory()
        let file = directory.path("identity.txt")
        let result = try CLI.run(["keygen", "-o", file])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("AGE-SECRET-KEY"), "nothing secret on standard output")
        #expect(try Sandbox.shell("stat -c %a '\(file)'").output == "600\n")
        let recipient = try #require(result.stderr.split(separator: "\n").first { $0.hasPrefix("Public key: ") }?.dropFirst("Public key: ".count))
        #expect(try Sandbox.shell("age-keygen -y '\(file)'").output.trimmingCharacters(in: .whitespacesAndNewlines) == String(recipient))
        let before = try String(contentsOfFile: file, encoding: .utf8)
        let again = try CLI.run(["keygen", "-o", file])
        #expect(again.status == 1 && again.stderr.contains("it exists; it was not overwritten"), "\(again.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == before)
    }

    /// `init FILE`: a starting configuration that validates and plans as it is, naming every engine and
    /// parameter (commented out); mode 0600; never over an existing file.
    @Test func initWritesAStartingConfigurationThatValidates() throws {
        let directory = try TemporaryDirectory()
        let file = directory.path("etc/polyarchiv/polyarchiv.yaml")
        let result = try CLI.run(["init", file])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Sandbox.shell("stat -c %a '\(file)'").output == "600\n")
        let validate = try CLI.run(["validate", "-q", "-c", file])
        #expect(validate.status == 0, "\(validate.stderr)")
        let plan = try CLI.run(["plan", "-c", file, "--state-dir", directory.path("state")])
        #expect(plan.status == 0 && plan.stdout.contains("run      dump:etc/config"), "\(plan.stdout)\(plan.stderr)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let engines = try CLI.run(["engines", "-v"]).stdout
        // Every engine and every parameter `engines -v` lists is in the file.
        for line in engines.split(separator: "\n") where line.hasPrefix("  ") && !line.hasPrefix("  parameters") {
            let word = line.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? ""
            guard !word.isEmpty, !word.hasPrefix("("), word != "one", word != "at" else { continue }
            #expect(text.contains("# \(word): ") || text.contains("#     \(word): "), "\(word) is missing from the template")
        }
        let again = try CLI.run(["init", file])
        #expect(again.status == 1 && again.stderr.contains("it exists; it was not overwritten"), "\(again.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == text)
    }

    /// `POLYARCHIV_STATE_DIR` stands for `--state-dir` on every command; `--state-dir` wins.
    @Test func theStateDirectoryCanComeFromTheEnvironment() throws {
        let sandbox = try Sandbox.withCommand("echo data")
        var environment = ProcessInfo.processInfo.environment
        environment["POLYARCHIV_STATE_DIR"] = sandbox.path("from-env")
        let applied = try CLI.run(["apply", "-c", sandbox.config], environment: environment)
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("from-env/journal.sqlite")))
        let check = try CLI.run(["check", "-c", sandbox.config], environment: environment)
        #expect(check.status == 0 && !check.stdout.contains("never ran"), "\(check.stdout)")
        let given = try CLI.run(["apply", "-c", sandbox.config, "--state-dir", sandbox.path("given")], environment: environment)
        #expect(given.status == 0 && FileManager.default.fileExists(atPath: sandbox.path("given/journal.sqlite")), "\(given.stderr)")
    }

    /// `state_dir:` in the configuration serves every command that has no `--state-dir` or `POLYARCHIV_STATE_DIR`
    /// (gc included, when given the configuration); the environment and the option win over it.
    @Test func theStateDirectoryCanComeFromTheConfiguration() throws {
        let sandbox = try Sandbox()
        try sandbox.configure("""
            state_dir: $ROOT/from-config
            collect_points:
              box:
                engine: files
                path: $ROOT/c
                sources: {x: {engine: command, command: "echo data"}}
            """)
        var environment = ProcessInfo.processInfo.environment
        environment["POLYARCHIV_STATE_DIR"] = nil
        let applied = try CLI.run(["apply", "-c", sandbox.config], environment: environment)
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("from-config/journal.sqlite")))
        let check = try CLI.run(["check", "-c", sandbox.config], environment: environment)
        #expect(check.status == 0 && !check.stdout.contains("never ran"), "\(check.stdout)")
        let gc = try CLI.run(["gc", "-c", sandbox.config], environment: environment)
        #expect(gc.status == 0 && gc.stdout.contains("kept") && !gc.stdout.contains("; 0 kept"), "\(gc.stdout)\(gc.stderr)")
        environment["POLYARCHIV_STATE_DIR"] = sandbox.path("from-env")
        let overridden = try CLI.run(["apply", "-c", sandbox.config], environment: environment)
        #expect(overridden.status == 0 && FileManager.default.fileExists(atPath: sandbox.path("from-env/journal.sqlite")))

        try sandbox.configure("state_dir: state\ncollect_points: {box: {engine: files, path: $ROOT/c}}\n")
        let relative = try CLI.run(["plan", "-c", sandbox.config], environment: environment)
        #expect(relative.status == 1 && relative.stderr.contains("\(sandbox.config):1:12: error: state_dir `state` must be an absolute path"),
                "\(relative.stderr)")
    }

    @Test func versionNamesTheLinkedLibraries() throws {
        let result = try CLI.run(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("libgit2") && result.stdout.contains("libcurl") && result.stdout.contains("libarchive"))
        // …the SQLite of the journal, and each program it runs, found or not, with the version it reports.
        #expect(result.stdout.contains("SQLite 3."), "\(result.stdout)")
        let pgDump = try Sandbox.shell("pg_dump --version").output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(result.stdout.contains("  pg_dump: \(pgDump) ("), "\(result.stdout)")
        for tool in ["restic", "rsync", "mariadb-dump", "ssh"] { #expect(result.stdout.contains("  \(tool): "), "\(tool)") }
        let bare = try CLI.run(["--version"], environment: ["PATH": "/nonexistent"])
        #expect(bare.status == 0 && bare.stdout.contains("  pg_dump: not installed"), "\(bare.stdout)")
    }

    @Test func validatePrintsTheResolvedConfig() throws {
        let result = try CLI.run(["validate", "-c", CLI.pipeline("demo.yaml")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("path: /tmp/polyarchiv-demo/collect/notes"))
        #expect(try CLI.run(["config", "-q", "-c", CLI.pipeline("demo.yaml")]).stdout.isEmpty)
    }

    @Test func aBrokenConfigExitsOneWithPositionsAndRunsNothing() throws {
        let directory = try TemporaryDirectory()
        let file = directory.path("broken.yaml")
        try "collect_points:\n  www:\n    engine: fils\n    path: /x\n    sources: {}\n".write(toFile: file, atomically: false, encoding: .utf8)
        for command in ["validate", "plan", "graph"] {
            let result = try CLI.run([command, "-c", file])
            #expect(result.status == 1)
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains("\(file):3:13: error: unknown collect point engine `fils` (did you mean `files`?)"))
        }
    }

    @Test func planDetailedExitcodeSaysWorkIsPending() throws {
        let text = try CLI.run(["plan", "-c", CLI.pipeline("demo.yaml")])
        #expect(text.status == 0)
        #expect(text.stdout.contains("run      dump:notes/documents"))
        let detailed = try CLI.run(["plan", "--detailed-exitcode", "-c", CLI.pipeline("demo.yaml")])
        #expect(detailed.status == 2)
        let json = try CLI.run(["plan", "--format", "json", "-c", CLI.pipeline("website.yaml")])
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let stages = document?["stages"] as? [[String: Any]]
        #expect(stages?.count == 11)
        #expect(stages?.allSatisfy { $0["state"] as? String == "run" } == true)
    }

    @Test func missingDefaultDirectoryIsOneClearLine() throws {
        let result = try CLI.run(["plan", "-C", "/nonexistent/polyarchiv"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("configuration directory /nonexistent/polyarchiv does not exist"))
    }

    @Test func enginesListsEveryEngineAndItsAliasWorks() throws {
        let plain = try CLI.run(["plugins"])
        #expect(plain.status == 0)
        for name in ["remote_files", "rolling_archive", "restic", "gitlab", "dovecot", "email"] {
            #expect(plain.stdout.contains(name))
        }
        let verbose = try CLI.run(["engines", "-v"])
        #expect(verbose.stdout.contains("keep (retention, required)"))
    }

    /// The README's configuration reference is the output of `engines --format markdown`, so they cannot drift.
    @Test func readmeReferenceMatchesTheEngineDescriptions() throws {
        let markdown = try CLI.run(["engines", "--format", "markdown"]).stdout
        let readme = try String(contentsOf: CLI.repository.appendingPathComponent("README.md"), encoding: .utf8)
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
        let graph = try CLI.run(["graph", "-c", CLI.pipeline(file)])
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
