import Foundation
import Testing
import TestSupport

/// Names go to a terminal as `ls -b` prints them: an escape sequence in a file name (anyone who can write
/// into a source can make one) never reaches the terminal, and a newline in a name never forges a line.
@Suite struct TerminalNamesTests {
    @Test func lsFindAndDiffEscapeControlCharactersInNames() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/www/index.html", "<h1>one</h1>\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data/www}}}
            backup_points:
              local: {engine: rolling_archive, url: "file://$ROOT/backups/{name}-{Y}{m}{d}{H}{M}{S}.tar.gz", keep: {last: 5}}
            """)
        #expect(try sandbox.apply().status == 0)
        sleep(1)
        try sandbox.write("data/www/a\u{1b}[2Jb.txt", "clears the screen\n")
        try sandbox.write("data/www/line1\nFORGED.txt", "forges a line\n")
        // A FIFO the walk skips, named to clear the screen: its warning is escaped too.
        #expect(mkfifo(sandbox.path("data/www/pipe\u{1b}[2J"), 0o644) == 0)
        let applied = try sandbox.apply()
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("pipe\\033[2J is a special file") || applied.stderr.contains("pipe\\033[2J is a special file"),
                "\(applied.stdout)\(applied.stderr)")
        #expect(!applied.stdout.contains("\u{1b}[2J") && !applied.stderr.contains("\u{1b}[2J"), "apply prints no escape sequence")
        let ls = try CLI.run(["ls", "-c", sandbox.config, "--collect-point", "site"])
        #expect(ls.status == 0, "\(ls.stderr)")
        let find = try CLI.run(["find", "-c", sandbox.config, "*.txt"])
        #expect(find.status == 0, "\(find.stderr)")
        let diff = try CLI.run(["diff", "-c", sandbox.config, "--collect-point", "site"])
        #expect(diff.status == 0, "\(diff.stderr)")
        for (command, output) in [("ls", ls.stdout), ("find", find.stdout), ("diff", diff.stdout)] {
            #expect(!output.contains("\u{1b}"), "\(command) prints no escape character")
            #expect(output.contains("a\\033[2Jb.txt"), "\(command): \(output)")
            #expect(output.contains("line1\\nFORGED.txt"), "\(command): \(output)")
            #expect(!output.split(separator: "\n").contains { $0.hasPrefix("FORGED") }, "\(command) prints no forged line: \(output)")
        }
        // JSON keeps the names as they are.
        let json = try CLI.run(["ls", "-c", sandbox.config, "--collect-point", "site", "--json"])
        #expect(json.stdout.contains("line1\\nFORGED.txt") && json.stdout.contains("a\\u001b[2Jb.txt"), "\(json.stdout)")
    }
}
