import Foundation
import Testing
import TestSupport

/// What a user sees in a real terminal (tmux) during a long upload, and after Ctrl-C.
@Suite struct TerminalProgressTests {
    static func tmux(_ arguments: String) throws -> String { try Sandbox.shell("tmux " + arguments).output }

    /// Polls the pane until `condition` holds (or gives up after `seconds`), returning what it last showed.
    static func pane(_ session: String, within seconds: Double, until condition: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var shown = ""
        while Date() < deadline {
            shown = try Self.tmux("capture-pane -p -t \(session)")
            if condition(shown) { return shown }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return shown
    }

    @Test func aLongUploadShowsBytesPercentageRateAndETAAndCtrlCStopsIt() throws {
        guard try Sandbox.shell("command -v tmux").status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("tmux is not installed (apt install tmux)") }
            else { print("skipped: tmux is not installed") }
            return
        }
        guard let server = try TestServer.start("ftp.py") else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        // 12 MiB that do not compress, sent at 1 MiB/s: long enough to watch.
        #expect(try Sandbox.shell("mkdir -p '\(sandbox.path("data"))' && head -c 12582912 /dev/urandom > '\(sandbox.path("data/big"))'").status == 0)
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              far: {engine: archive, url: "ftp://127.0.0.1:\(server.port)/backups/{name}.tar", username: \(server.string("user")),
                    password_file: \(server.string("password_file")), bandwidth_limit: 1M}
            """)
        let session = "polyarchiv-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        let command = "env -u NO_COLOR TERM=xterm '\(CLI.binary.path)' apply -c '\(sandbox.config)' --state-dir '\(sandbox.state)'; echo EXIT=$?; sleep 120"
        // The tmux server it starts must not inherit this process's descriptors (Foundation's waitUntilExit waits
        // for every process holding them): they are closed before tmux runs.
        let starter = Process()
        starter.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        starter.arguments = ["-c", "import os, sys; os.closerange(3, 65536); os.execvp('tmux', sys.argv[1:])",
                             "tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", command]
        starter.standardInput = FileHandle.nullDevice
        starter.standardOutput = FileHandle.nullDevice
        starter.standardError = FileHandle.nullDevice
        try starter.run()
        starter.waitUntilExit()
        try #require(starter.terminationStatus == 0, "tmux new-session")
        defer { _ = try? Self.tmux("kill-session -t \(session)") }
        let during = try Self.pane(session, within: 30) { $0.contains("upload:far/site") && $0.contains("ETA") }
        let line = during.split(separator: "\n").last { $0.contains("upload:far/site") && $0.contains("ETA") }.map(String.init) ?? ""
        // upload:far/site 3.0 MiB / 12.0 MiB 25% 1.0 MiB/s ETA 0:09
        #expect(line.contains(" / 12.0 MiB ") && line.contains("% ") && line.contains("/s ETA "), "\(during)")
        let percent = line.split(separator: " ").first { $0.hasSuffix("%") }.flatMap { Int($0.dropLast()) } ?? -1
        #expect(percent >= 0 && percent < 100, "\(line)")
        _ = try Self.tmux("send-keys -t \(session) C-c")
        let after = try Self.pane(session, within: 30) { $0.contains("EXIT=") }
        #expect(after.contains("EXIT=130"), "\(after)")
        #expect(after.contains("stopped  upload:far/site") && after.contains("The run was interrupted; the next apply resumes it."), "\(after)")
        // The interrupted line replaced the progress line: nothing is left half-drawn after it.
        #expect(!after.split(separator: "\n").contains { $0.contains("ETA") && $0.contains("EXIT") }, "\(after)")
    }

    /// Not on a terminal (a log, cron), `-vv` prints a line every 5 seconds for a long stage, with the same
    /// bytes, total, percentage, rate and ETA.
    @Test func withoutATerminalVeryVerbosePrintsAProgressLineEveryFiveSeconds() throws {
        guard let server = try TestServer.start("ftp.py") else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        #expect(try Sandbox.shell("mkdir -p '\(sandbox.path("data"))' && head -c 7340032 /dev/urandom > '\(sandbox.path("data/big"))'").status == 0)
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              far: {engine: archive, url: "ftp://127.0.0.1:\(server.port)/backups/{name}.tar", username: \(server.string("user")),
                    password_file: \(server.string("password_file")), bandwidth_limit: 1M, verify: false}
            """)
        let run = try sandbox.apply(["-vv"])
        #expect(run.status == 0, "\(run.stdout)")
        let lines = run.stdout.split(separator: "\n").filter { $0.hasPrefix("progress upload:far/site  ") }
        #expect(!lines.isEmpty && lines.allSatisfy { $0.contains(" / 7.0 MiB  ") && $0.contains("%  ") && $0.contains("/s  ETA ") },
                "\(run.stdout)")
        #expect(!run.stdout.contains("\u{1B}"), "no terminal codes in a log")
    }
}
