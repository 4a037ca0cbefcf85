import Foundation
import Testing
import TestSupport

/// The pushgateway hook against Debian's prometheus-pushgateway, and the apprise hook through the apprise CLI
/// (from PyPI) to a JSON endpoint on loopback.
@Suite(.serialized) struct MonitoringHookTests {
    /// prometheus-pushgateway on a free loopback port, stopped at the end.
    final class Pushgateway {
        let process = Process()
        let port: Int

        init?() throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus-pushgateway") else {
                if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("prometheus-pushgateway is not installed") }
                else { print("skipped: prometheus-pushgateway is not installed (apt install prometheus-pushgateway)") }
                return nil
            }
            port = Int.random(in: 20_000...60_000)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus-pushgateway")
            process.arguments = ["--web.listen-address=127.0.0.1:\(port)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            for _ in 0..<100 where try Sandbox.shell("curl -sf http://127.0.0.1:\(port)/-/ready").status != 0 {
                Thread.sleep(forTimeInterval: 0.1)
            }
        }

        /// The gateway's exposition, the lines of polyarchiv's metrics.
        func metrics() throws -> [String] {
            try Sandbox.shell("curl -sf http://127.0.0.1:\(port)/metrics").output.split(separator: "\n")
                .filter { $0.hasPrefix("polyarchiv_") }.map(String.init)
        }

        deinit {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    static func value(_ metric: String, _ lines: [String]) -> String? {
        lines.first { $0.hasPrefix(metric + "{") }?.split(separator: " ").last.map(String.init)
    }

    @Test func aRunPushesItsOutcomeAndAFailureKeepsTheLastSuccess() throws {
        guard let gateway = try Pushgateway() else { return }
        let sandbox = try Sandbox()
        func configure(_ command: String) throws {
            try sandbox.configure("""
                collect_points:
                  box: {engine: files, path: $ROOT/collect, sources: {x: {engine: command, command: "\(command)"}}}
                hooks:
                  - {engine: pushgateway, url: "http://127.0.0.1:\(gateway.port)", instance: web1,
                     events: [before_backup, backup_success, backup_error]}
                """)
        }
        try configure("echo ok")
        #expect(try sandbox.apply().status == 0)
        let good = try gateway.metrics()
        let labels = "instance=\"web1\",job=\"polyarchiv\",scope=\"global\""
        #expect(good.contains("polyarchiv_run_success{\(labels)} 1"), "\(good)")
        #expect(good.contains("polyarchiv_points_failed{\(labels)} 0"), "\(good)")
        let lastSuccess = try #require(Self.value("polyarchiv_last_success_timestamp_seconds", good))
        #expect(Self.value("polyarchiv_run_start_timestamp_seconds", good) != nil)
        try configure("exit 5")
        sleep(1)
        #expect(try sandbox.apply().status == 2)
        let bad = try gateway.metrics()
        #expect(bad.contains("polyarchiv_run_success{\(labels)} 0") && bad.contains("polyarchiv_points_failed{\(labels)} 1"), "\(bad)")
        #expect(Self.value("polyarchiv_last_success_timestamp_seconds", bad) == lastSuccess, "a failure keeps the last success: \(bad)")
        #expect(Self.value("polyarchiv_run_end_timestamp_seconds", bad) != Self.value("polyarchiv_run_end_timestamp_seconds", good))
    }

    @Test func appriseCarriesTheStatusAndNeverSeesItsURLOnTheCommandLine() throws {
        guard try Sandbox.shell("command -v apprise").status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("apprise is not installed (scripts/install-deps.sh test)") }
            else { print("skipped: apprise is not installed") }
            return
        }
        let sandbox = try Sandbox()
        let listener = try HTTPHookTests.Listener(directory: sandbox.root.path)
        defer { listener.stop() }
        try sandbox.write("apprise.url", "json://127.0.0.1:\(listener.port)/notify/s3cr3t-token")
        try sandbox.configure("""
            collect_points:
              box: {engine: files, path: $ROOT/collect, sources: {x: {engine: command, command: "exit 5"}}}
            hooks:
              - {engine: apprise, url: "${file:$ROOT/apprise.url}", events: [backup_error], apprise_command: $ROOT/apprise}
            """)
        // apprise through a wrapper that records its command line.
        try sandbox.write("apprise", "#!/bin/sh\nprintf '%s\\n' \"$@\" > '\(sandbox.path("argv"))'\nexec apprise \"$@\"\n")
        chmod(sandbox.path("apprise"), 0o755)
        let run = try sandbox.apply()
        #expect(run.status == 2)
        let request = try #require(listener.requests.first { ($0["path"] as? String)?.hasPrefix("/notify/") == true }, "\(run.stdout)")
        let body = try #require(try JSONSerialization.jsonObject(with: Data((request["body"] as? String ?? "").utf8)) as? [String: Any])
        #expect((body["title"] as? String)?.hasSuffix(": backup error KO") == true, "\(body)")
        #expect(body["type"] as? String == "failure", "\(body)")
        #expect((body["message"] as? String)?.contains("failed dump:box/x: `exit 5` exited with status 5") == true, "\(body)")
        #expect(!run.stdout.contains("s3cr3t-token") && !run.stderr.contains("s3cr3t-token"))
        let argv = try String(contentsOfFile: sandbox.path("argv"), encoding: .utf8)
        #expect(argv.contains("--config=/") && !argv.contains("s3cr3t-token"), "\(argv)")
    }
}
