import Foundation
import Testing
import TestSupport

/// What `apply` prints when something fails: one FAILED line per cause, colour only where it helps.
@Suite struct RunOutputTests {
    /// A source that fails on a first run: one FAILED line (its error once), the stages it blocks name it
    /// without repeating the error, and the verify of a backup that was never made is skipped, not a second failure.
    static func failingFirstRun() throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              app:
                engine: files
                path: $ROOT/c
                sources:
                  db: {engine: command, command: "printf 'pg_dump: error: connection %s' refused >&2; exit 1"}
                  other: {engine: command, command: "echo fine"}
            backup_points:
              b:
                engine: archive
                url: file://$ROOT/b/{name}.tar.gz
                verify_frequency: always
                collect_points: {include: [app]}
            """)
        return sandbox
    }

    @Test func oneFailedLinePerCause() throws {
        let sandbox = try Self.failingFirstRun()
        let run = try sandbox.apply()
        #expect(run.status == 2)
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("FAILED") }.count == 1, "\(run.stdout)")
        #expect(run.stdout.components(separatedBy: "connection refused").count == 2, "the error is printed once: \(run.stdout)")
        #expect(lines.contains("blocked  upload:b/app  (blocked by dump:app/db, which failed)"), "\(run.stdout)")
        #expect(lines.contains("skipped  verify:b/app  (nothing to verify yet: upload:b/app has never succeeded)"), "\(run.stdout)")
        #expect(lines.contains { $0.hasPrefix("  failed") && $0.contains("  dump:app/db") }, "\(run.stdout)")

        // Once a backup exists, a failing upload does not hide the verify of the one before.
        try sandbox.configure(try String(contentsOfFile: sandbox.config, encoding: .utf8)
            .replacingOccurrences(of: "printf 'pg_dump: error: connection %s' refused >&2; exit 1", with: "echo db"))
        #expect(try sandbox.apply().status == 0)
        try sandbox.configure(try String(contentsOfFile: sandbox.config, encoding: .utf8)
            .replacingOccurrences(of: "echo db", with: "exit 1"))
        let third = try sandbox.apply()
        #expect(third.status == 2)
        #expect(third.stdout.contains("done     verify:b/app"), "\(third.stdout)")
    }

    /// On a terminal (a pseudo-terminal from `script`): FAILED in red, blocked in yellow; with NO_COLOR, or
    /// when the output is not a terminal, no escape sequence colours anything.
    @Test func colourOnATerminalOnlyAndNeverWithNoColor() throws {
        let sandbox = try Self.failingFirstRun()
        func onTerminal(_ environment: String) throws -> String {
            // (The test runner may itself run with NO_COLOR set.)
            let command = "env -u NO_COLOR \(environment) TERM=xterm '\(CLI.binary.path)' apply -c '\(sandbox.config)' --state-dir '\(sandbox.state)'"
            return try Sandbox.shell("script -qec \"\(command)\" /dev/null").output
        }
        let coloured = try onTerminal("")
        #expect(coloured.contains("\u{1B}[1;31mFAILED   dump:app/db"), "\(coloured.debugDescription)")
        #expect(coloured.contains("\u{1B}[33mblocked  collect:app"), "\(coloured.debugDescription)")
        let plain = try onTerminal("NO_COLOR=1")
        #expect(plain.contains("FAILED   dump:app/db") && !plain.contains("\u{1B}[1;31m") && !plain.contains("\u{1B}[33m"),
                "\(plain.debugDescription)")
        let piped = try sandbox.apply()
        #expect(!piped.stdout.contains("\u{1B}"), "\(piped.stdout.debugDescription)")
    }
}
