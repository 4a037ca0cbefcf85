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

    /// `apply --stats` counts each source's files against the previous run and the bytes read, written and
    /// sent; `-v` names each file found new, changed or removed.
    @Test func statsCountTheFilesAndVerboseNamesThem() throws {
        let sandbox = try Sandbox()
        for name in ["a", "b", "d"] { try sandbox.write("data/\(name)", "\(name)\n") }
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                sources: {www: {engine: files, path: $ROOT/data}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz", verify: false}
            """)
        let first = try sandbox.apply(["--stats"])
        #expect(first.status == 0)
        #expect(first.stdout.contains("Statistics:\n  dump:site/www: files 3 new, 0 changed, 0 unchanged, 0 removed; 6 B read\n"
                                      + "  collect:site: 6 B written\n  backup point local: "), "\(first.stdout)")
        #expect(!first.stdout.contains("new      dump:"), "without -v no file is named")
        try sandbox.write("data/b", "B\n")
        try sandbox.write("data/c", "c\n")
        try FileManager.default.removeItem(atPath: sandbox.path("data/a"))
        let second = try sandbox.apply(["--stats", "-v"])
        #expect(second.status == 0)
        let lines = second.stdout.split(separator: "\n").map(String.init)
        for line in ["changed  dump:site/www  b", "new      dump:site/www  c", "removed  dump:site/www  a",
                     "  collect:site: 4 B written"] {
            #expect(lines.contains(line), "\(line) in \(second.stdout)")
        }
        // (d is read again when it was cached less than two seconds before: 4 or 6 bytes read.)
        #expect(lines.contains { $0.hasPrefix("  dump:site/www: files 1 new, 1 changed, 1 unchanged, 1 removed; ") && $0.hasSuffix(" B read") },
                "\(second.stdout)")
        #expect(!second.stdout.contains("dump:site/www  d"), "an unchanged file is not listed")
        let third = try sandbox.apply(["--stats", "--json", "-v"])
        #expect(!third.stdout.contains("\"event\":\"file\""), "nothing changed: \(third.stdout)")
        try sandbox.write("data/e", "e\n")
        let fourth = try sandbox.apply(["--json", "-v"])
        #expect(fourth.stdout.contains("\"change\":\"new\",\"event\":\"file\",\"path\":\"e\""), "\(fourth.stdout)")
    }
}
