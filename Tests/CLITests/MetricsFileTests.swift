import Foundation
import Testing
import TestSupport

/// apply --metrics-file: a Prometheus textfile that promtool accepts, with the points' state.
@Suite(.serialized) struct MetricsFileTests {
    func promtool(_ path: String) throws -> (status: Int32, output: String)? {
        guard try Sandbox.shell("command -v promtool").status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("promtool is missing: apt-get install prometheus")
            } else {
                print("skipped the promtool check: promtool is missing (apt-get install prometheus)")
            }
            return nil
        }
        return try Sandbox.shell("promtool check metrics < '\(path)' 2>&1")
    }

    func sample(_ text: String, _ name: String, _ labels: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix("\(name){\(labels)} ") }.map { String($0.split(separator: " ").last!) }
    }

    @Test func successAndFailureAreCountedAndPromtoolAcceptsTheFile() throws {
        let sandbox = try Sandbox()
        try sandbox.write("flag", "ok")
        try sandbox.configure("""
            collect_points:
              web.main:
                engine: files
                path: $ROOT/collect
                sources: {x: {engine: command, command: "test \\"$(cat $ROOT/flag)\\" = ok && echo data"}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        let metrics = sandbox.path("textfile/polyarchiv.prom")
        try FileManager.default.createDirectory(atPath: sandbox.path("textfile"), withIntermediateDirectories: true)
        #expect(try sandbox.apply(["--metrics-file", metrics]).status == 0)
        var text = try String(contentsOfFile: metrics, encoding: .utf8)
        let cp = #"kind="collect_point",name="web.main""#
        #expect(sample(text, "polyarchiv_up", cp) == "1", "\(text)")
        #expect(sample(text, "polyarchiv_successes_total", cp) == "1")
        #expect(sample(text, "polyarchiv_last_bytes", #"kind="backup",name="local/web.main""#).map { Int($0)! > 0 } == true)
        #expect(text.contains("polyarchiv_run_exit_code 0"))
        if let check = try promtool(metrics) { #expect(check.status == 0, "\(check.output)\n\(text)") }

        try sandbox.write("flag", "broken")
        #expect(try sandbox.apply(["--metrics-file", metrics, "--force"]).status == 2)
        text = try String(contentsOfFile: metrics, encoding: .utf8)
        #expect(sample(text, "polyarchiv_up", cp) == "0")
        #expect(sample(text, "polyarchiv_failures_total", cp) == "1")
        #expect(sample(text, "polyarchiv_successes_total", cp) == "1")
        #expect(text.contains("polyarchiv_run_exit_code 2"))
        #expect(text.contains(#"polyarchiv_run_stages{outcome="failed"} 1"#))
        if let check = try promtool(metrics) { #expect(check.status == 0, "\(check.output)") }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: sandbox.path("textfile"))
        #expect(leftovers == ["polyarchiv.prom"], "no temporary file is left for the collector to read")
    }

    @Test func anUnwritableMetricsFileDoesNotFailTheBackup() throws {
        let sandbox = try Sandbox.withCommand("echo data")
        let run = try sandbox.apply(["--metrics-file", sandbox.path("missing/dir/polyarchiv.prom")])
        #expect(run.status == 3)
        #expect(run.stderr.contains("cannot write the metrics file"), "\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("c/x.out")))
    }
}
