import Foundation
import Testing
import TestSupport

/// The git collect point: a commit per changed run, judged by the git program (clone, fsck, log),
/// restored from its own history by date or commit id.
@Suite(.serialized) struct GitCollectPointTests {
    func makeSandbox(filters: String = "[]") throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "<h1>one</h1>\n")
        try sandbox.write("data/img/logo.svg", "<svg/>\n")
        try sandbox.write("data/bin/run.sh", "#!/bin/sh\necho run\n")
        chmod(sandbox.path("data/bin/run.sh"), 0o755)
        symlink("../index.html", sandbox.path("data/img/home.html"))
        try Sandbox.shell("sqlite3 '\(sandbox.path("app.sqlite3"))' \"CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);\"")
        try sandbox.configure("""
            variables: {team: ops}
            collect_points:
              site:
                engine: git
                path: $ROOT/repo
                author_name: "Backup {team}"
                author_email: "{team}@example.org"
                commit_message: "{name}: backup of {Y}-{m}-{d}"
                sources:
                  www: {engine: files, path: $ROOT/data}
                  db: {engine: sqlite, path: $ROOT/app.sqlite3, destination: app.sqlite3}
                filters: \(filters)
            """)
        return sandbox
    }

    func git(_ sandbox: Sandbox, _ arguments: String) throws -> String {
        let result = try Sandbox.shell("git -C '\(sandbox.path("repo"))' \(arguments) 2>&1")
        #expect(result.status == 0, "git \(arguments): \(result.output)")
        return result.output
    }

    @Test func aCommitPerChangedRunThatGitAccepts() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        #expect(try sandbox.apply(["--force"]).status == 0)
        #expect(try git(sandbox, "rev-list --count main") == "1\n", "an unchanged run commits nothing")
        try sandbox.write("data/index.html", "<h1>two</h1>\n")
        try FileManager.default.removeItem(atPath: sandbox.path("data/img/logo.svg"))
        #expect(try sandbox.apply(["--force"]).status == 0)
        #expect(try git(sandbox, "rev-list --count main") == "2\n")
        let log = try git(sandbox, "log -1 --format='%an <%ae>|%cn|%s'")
        #expect(log.hasPrefix("Backup ops <ops@example.org>|Backup ops|site: backup of 20"), "\(log)")
        // The work tree is the newest commit: the deleted file is gone, git sees nothing to commit.
        #expect(try String(contentsOfFile: sandbox.path("repo/www/index.html"), encoding: .utf8) == "<h1>two</h1>\n")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("repo/www/img/logo.svg")))
        #expect(try git(sandbox, "status --porcelain").isEmpty)
        // git's own judgement, on the repository and on a clone.
        #expect(try Sandbox.shell("git -C '\(sandbox.path("repo"))' fsck --strict 2>&1").status == 0)
        let clone = try Sandbox.shell("git clone -q '\(sandbox.path("repo"))' '\(sandbox.path("clone"))' 2>&1 && git -C '\(sandbox.path("clone"))' fsck --strict 2>&1")
        #expect(clone.status == 0, "\(clone.output)")
        #expect(try Sandbox.shell("test -x '\(sandbox.path("clone/www/bin/run.sh"))'").status == 0, "the executable bit is kept")
        #expect(try Sandbox.shell("readlink '\(sandbox.path("clone/www/img/home.html"))'").output == "../index.html\n")
        let rows = try Sandbox.shell("sqlite3 '\(sandbox.path("clone/app.sqlite3"))' 'SELECT sum(x) FROM t'").output
        #expect(rows == "3\n")
        // Only the owner may read the dumps in the work tree.
        #expect(try Sandbox.shell("stat -c %a '\(sandbox.path("repo"))'").output == "700\n")
    }

    @Test func restoreAnyCommitByDateOrId() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        let first = try git(sandbox, "rev-parse HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
        let firstDate = try git(sandbox, "log -1 --format=%cI").trimmingCharacters(in: .whitespacesAndNewlines)
        sleep(2)
        try sandbox.write("data/index.html", "<h1>two</h1>\n")
        #expect(try sandbox.apply(["--force"]).status == 0)
        func restore(_ target: String, _ extra: [String]) throws -> CLI.Result {
            try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "site", "--target", sandbox.path(target)] + extra)
        }
        let newest = try restore("newest", ["--from-collect-point"])
        #expect(newest.status == 0, "\(newest.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("newest/site/www/index.html"), encoding: .utf8) == "<h1>two</h1>\n")
        let byID = try restore("by-id", ["--commit", String(first.prefix(10))])
        #expect(byID.status == 0, "\(byID.stderr)")
        #expect(byID.stdout.contains("git commit \(first.prefix(12))"))
        #expect(try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(sandbox.path("by-id/site/www"))'").status != 0)
        #expect(try String(contentsOfFile: sandbox.path("by-id/site/www/index.html"), encoding: .utf8) == "<h1>one</h1>\n")
        let byDate = try restore("by-date", ["--from-collect-point", "--at", firstDate])
        #expect(byDate.status == 0, "\(byDate.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("by-date/site/www/index.html"), encoding: .utf8) == "<h1>one</h1>\n")
        let unknown = try restore("unknown", ["--commit", "0123456789abcdef"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("no commit `0123456789abcdef`"), "\(unknown.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("unknown/site")))
    }

    @Test func anEncryptedGitCollectPointRestoresThroughItsFilters() throws {
        guard try Sandbox.shell("command -v age-keygen").status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("age-keygen is missing: apt-get install age") }
            return
        }
        let keygen = try Sandbox.shell("age-keygen 2>/dev/null")
        let sandbox = try Sandbox()
        try keygen.output.write(toFile: sandbox.path("key.txt"), atomically: false, encoding: .utf8)
        let recipient = try Sandbox.shell("age-keygen -y '\(sandbox.path("key.txt"))'").output.trimmingCharacters(in: .whitespacesAndNewlines)
        try sandbox.write("data/a.txt", "alpha\n")
        try sandbox.configure("""
            collect_points:
              site:
                engine: git
                path: $ROOT/repo
                sources: {www: {engine: files, path: $ROOT/data}}
                filters: [{engine: hashes}, {engine: encrypt, recipients: [\(recipient)], identity_file: $ROOT/key.txt}]
            """)
        #expect(try sandbox.apply().status == 0)
        #expect(try git(sandbox, "ls-files") == "SHA256SUMS.age\nwww/a.txt.age\n")
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--from-collect-point", "--target", sandbox.path("out")])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(restored.stdout.contains("verified SHA256SUMS"))
        #expect(try String(contentsOfFile: sandbox.path("out/site/www/a.txt"), encoding: .utf8) == "alpha\n")
    }

    @Test func aDirectoryThatIsNotARepositoryIsLeftAlone() throws {
        let sandbox = try makeSandbox()
        try sandbox.write("repo/precious.txt", "mine\n")
        let run = try sandbox.apply()
        #expect(run.status == 2)
        #expect(run.stdout.contains("neither empty nor a git repository"), "\(run.stdout)")
        #expect(try String(contentsOfFile: sandbox.path("repo/precious.txt"), encoding: .utf8) == "mine\n")
    }
}
