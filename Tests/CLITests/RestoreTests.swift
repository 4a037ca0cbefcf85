import Foundation
import Testing
import TestSupport

/// list and restore from the backup points' metadata, on a "fresh machine": no state, no collect point.
@Suite(.serialized) struct RestoreTests {
    func makeSandbox(url: String = "file://$ROOT/backups/{name}-{Y}{m}{d}-{H}{M}{S}.tar.gz") throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.write("data/www/index.html", "<h1>one</h1>\n")
        try sandbox.write("data/www/img/logo.svg", "<svg/>\n")
        try Sandbox.shell("sqlite3 '\(sandbox.path("data/app.sqlite3"))' \"CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);\"")
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect/{name}
                sources:
                  www: {engine: files, path: $ROOT/data/www}
                  db: {engine: sqlite, path: $ROOT/data/app.sqlite3, destination: app.sqlite3}
                filters: [{engine: hashes}]
            backup_points:
              local:
                engine: archive
                url: "\(url)"
            """)
        return sandbox
    }

    /// Makes the metadata document vouch for a tampered archive, as a consistent but wrong backup would.
    func recordDigest(of archive: String, in sandbox: Sandbox) throws {
        let digest = try Sandbox.shell("sha256sum '\(archive)' | cut -d' ' -f1").output.trimmingCharacters(in: .whitespacesAndNewlines)
        try Sandbox.shell("python3 -c \"import json,sys; p=sys.argv[1]; d=json.load(open(p)); d['backups'][0]['digest']=sys.argv[2]; "
                          + "json.dump(d, open(p,'w'))\" '\(sandbox.path("backups/" + Sandbox.document("local", "site")))' \(digest)")
    }

    func restore(_ sandbox: Sandbox, _ extra: [String] = []) throws -> CLI.Result {
        try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")] + extra)
    }

    @Test func restoreOnAFreshMachineGivesTheDataBack() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        // The metadata document records each backup's variables, digest, size and time.
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sandbox.path("backups/" + Sandbox.document("local", "site")))))
        let backup = ((document as? [String: Any])?["backups"] as? [[String: Any]])?.first ?? [:]
        let variables = backup["variables"] as? [String: String] ?? [:]
        #expect(variables["collect_point"] == "site" && variables["backup_point"] == "local" && variables["Y"]?.count == 4, "\(backup)")
        #expect(backup["digest"] is String && backup["size"] is Int && backup["created"] is String)
        // A fresh machine: no state directory, no collect point.
        try FileManager.default.removeItem(atPath: sandbox.state)
        try FileManager.default.removeItem(atPath: sandbox.path("collect"))
        let list = try CLI.run(["list", "-c", sandbox.config])
        #expect(list.status == 0)
        #expect(list.stdout.contains("local ← site"))
        #expect(list.stdout.contains(".tar.gz"))
        // --dry-run says what would happen, and does nothing.
        let preview = try restore(sandbox, ["--dry-run"])
        #expect(preview.status == 0, "\(preview.stderr)")
        #expect(preview.stdout.contains("site: the backup of ") && preview.stdout.contains(" from local, file://"), "\(preview.stdout)")
        #expect(preview.stdout.contains("into \(sandbox.path("restored"))/site") && preview.stdout.contains("fetch, extract, undo hashes"),
                "\(preview.stdout)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("restored")), "a dry run writes nothing")
        let run = try restore(sandbox)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("verified SHA256SUMS"))
        let restored = sandbox.path("restored/site")
        #expect(try Sandbox.shell("diff -r '\(sandbox.path("data/www"))' '\(restored)/www'").status == 0)
        let rows = try Sandbox.shell("sqlite3 '\(restored)/app.sqlite3' 'SELECT sum(x) FROM t'")
        #expect(rows.output.trimmingCharacters(in: .whitespacesAndNewlines) == "6")
        #expect(try Sandbox.shell("cd '\(restored)' && sha256sum -c SHA256SUMS").status == 0)
        // list, check and restore speak JSON too.
        let listed = try CLI.run(["list", "-c", sandbox.config, "--json"])
        let listing = try CLI.jsonLines(listed.stdout)
        #expect(listing.first?["collect_point"] as? String == "site" && listing.first?["type"] as? String == "backup_point", "\(listed.stdout)")
        #expect(listing.filter { $0["type"] as? String == "backup" }.count == 1, "\(listed.stdout)")
        let json = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("json"), "--json"])
        let restoredJSON = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        #expect(restoredJSON["exit_code"] as? Int == 0)
        #expect((restoredJSON["restored"] as? [[String: Any]])?.first?["verified"] as? [String] == ["SHA256SUMS"], "\(json.stdout)")
        let check = try CLI.run(["check", "-c", sandbox.config, "--state-dir", sandbox.state, "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any])?["status"] as? String == "CRITICAL",
                "no journal here: \(check.stdout)")
        // Never over existing data.
        let again = try restore(sandbox)
        #expect(again.status == 2)
        #expect(again.stderr.contains("is not empty"))
    }

    @Test func atChoosesAnOlderBackup() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        let first = try String(contentsOfFile: sandbox.path("backups/" + Sandbox.document("local", "site")), encoding: .utf8)
        let created = try #require(first.range(of: #"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"#, options: .regularExpression).map { String(first[$0]) })
        sleep(2)
        try sandbox.write("data/www/index.html", "<h1>two</h1>\n")
        #expect(try sandbox.apply().status == 0)
        let list = try CLI.run(["list", "-c", sandbox.config])
        #expect(list.stdout.components(separatedBy: ".tar.gz").count == 3, "two backups listed:\n\(list.stdout)")
        #expect(try restore(sandbox, ["--at", created]).status == 0)
        #expect(try String(contentsOfFile: sandbox.path("restored/site/www/index.html"), encoding: .utf8) == "<h1>one</h1>\n")
        let newest = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("newest")])
        #expect(newest.status == 0)
        #expect(try String(contentsOfFile: sandbox.path("newest/site/www/index.html"), encoding: .utf8) == "<h1>two</h1>\n")
    }

    @Test func aDamagedArchiveIsRefused() throws {
        let sandbox = try makeSandbox(url: "file://$ROOT/backups/{name}.tar.gz")
        #expect(try sandbox.apply().status == 0)
        let archive = sandbox.path("backups/site.tar.gz")
        // Flip one byte in the middle: same size, different content.
        try Sandbox.shell("printf 'X' | dd of='\(archive)' bs=1 seek=100 conv=notrunc 2>/dev/null")
        let run = try restore(sandbox)
        #expect(run.status == 2)
        #expect(run.stderr.contains("does not match its recorded SHA-256"), "\(run.stderr)")
    }

    @Test func aHashIndexMismatchNamesTheFile() throws {
        let sandbox = try makeSandbox(url: "file://$ROOT/backups/{name}.tar.gz")
        #expect(try sandbox.apply().status == 0)
        // A backup whose archive is whole but whose content disagrees with its own index.
        let work = sandbox.path("tamper")
        let archive = sandbox.path("backups/site.tar.gz")
        try Sandbox.shell("mkdir -p '\(work)' && tar -C '\(work)' -xzf '\(archive)' && echo evil > '\(work)/www/index.html' "
                          + "&& tar -C '\(work)' -czf '\(archive)' .")
        try recordDigest(of: archive, in: sandbox)
        let run = try restore(sandbox)
        #expect(run.status == 2)
        #expect(run.stderr.contains("restored file www/index.html does not match SHA256SUMS"), "\(run.stderr)")
    }

    @Test func anEntryEscapingTheTargetIsRefused() throws {
        let sandbox = try makeSandbox(url: "file://$ROOT/backups/{name}.tar.gz")
        #expect(try sandbox.apply().status == 0)
        let archive = sandbox.path("backups/site.tar.gz")
        try Sandbox.shell("""
            python3 -c "import tarfile,io,sys; t=tarfile.open(sys.argv[1],'w:gz'); i=tarfile.TarInfo('../escaped.txt'); \
            d=b'pwned'; i.size=len(d); t.addfile(i, io.BytesIO(d)); t.close()" '\(archive)'
            """)
        try recordDigest(of: archive, in: sandbox)
        let run = try restore(sandbox)
        #expect(run.status == 2)
        #expect(run.stderr.contains("would land outside the target"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("restored/escaped.txt")))
    }
}

/// `restore --source`: an SQLite database back to a named file, a command's data through its restore_command.
@Suite(.serialized) struct SourceRestoreTests {
    @Test func sqliteAndCommandSourcesGoBackWhereTheyBelong() throws {
        let sandbox = try Sandbox()
        try Sandbox.shell("sqlite3 '\(sandbox.path("app.sqlite3"))' \"CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);\"")
        try sandbox.configure("""
            collect_points:
              app:
                engine: files
                path: $ROOT/collect
                sources:
                  db: {engine: sqlite, path: $ROOT/app.sqlite3}
                  settings: {engine: command, command: "printf 'a=1\\\\nb=2\\\\n'", restore_command: "cat > $ROOT/settings.restored"}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        #expect(try sandbox.apply().status == 0)
        func restore(_ target: String, _ extra: [String]) throws -> CLI.Result {
            try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "app", "--target", sandbox.path(target)] + extra)
        }
        let sqlite = try restore("r1", ["--source", "db", "--into", sandbox.path("copy.sqlite3")])
        #expect(sqlite.status == 0, "\(sqlite.stderr)")
        #expect(try Sandbox.shell("sqlite3 '\(sandbox.path("copy.sqlite3"))' 'SELECT sum(x) FROM t'").output == "6\n")
        // Never over an existing file unless told.
        let again = try restore("r2", ["--source", "db", "--into", sandbox.path("copy.sqlite3")])
        #expect(again.status == 2)
        #expect(again.stderr.contains("exists; choose another --into or add --replace"), "\(again.stderr)")
        #expect(try restore("r3", ["--source", "db", "--into", sandbox.path("copy.sqlite3"), "--replace"]).status == 0)
        let command = try restore("r4", ["--source", "settings"])
        #expect(command.status == 0, "\(command.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("settings.restored"), encoding: .utf8) == "a=1\nb=2\n")
        let unknown = try restore("r5", ["--source", "setings"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("did you mean `settings`"), "\(unknown.stderr)")
    }
}

/// `restore --in-place --yes`: files sources go back to their own paths; what was there is kept aside.
@Suite(.serialized) struct InPlaceRestoreTests {
    @Test func filesGoBackAndTheLiveDataIsKeptAside() throws {
        let sandbox = try Sandbox()
        try sandbox.write("www/index.html", "<h1>good</h1>\n")
        try sandbox.write("www/img/logo.svg", "<svg/>\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/www}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        #expect(try sandbox.apply().status == 0)
        // The live data goes bad.
        try sandbox.write("www/index.html", "<h1>defaced</h1>\n")
        try FileManager.default.removeItem(atPath: sandbox.path("www/img/logo.svg"))
        let unconfirmed = try CLI.run(["restore", "-c", sandbox.config, "--in-place"])
        #expect(unconfirmed.status != 0)
        #expect(unconfirmed.stderr.contains("add --yes"), "\(unconfirmed.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("www/index.html"), encoding: .utf8) == "<h1>defaced</h1>\n")
        // Without --target, the rest of the restored data stays in a temporary directory (here, inside the sandbox).
        try FileManager.default.createDirectory(atPath: sandbox.path("tmp"), withIntermediateDirectories: true)
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--in-place", "--yes"],
                                   environment: ProcessInfo.processInfo.environment.merging(["TMPDIR": sandbox.path("tmp") + "/"]) { $1 })
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(restored.stdout.contains("the restored data is in \(sandbox.path("tmp"))/polyarchiv-restore-"), "\(restored.stdout)")
        #expect(try String(contentsOfFile: sandbox.path("www/index.html"), encoding: .utf8) == "<h1>good</h1>\n")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("www/img/logo.svg")))
        let aside = try FileManager.default.contentsOfDirectory(atPath: sandbox.root.path).filter { $0.hasPrefix("www.polyarchiv-before-restore-") }
        try #require(aside.count == 1, "\(aside)")
        #expect(try String(contentsOfFile: sandbox.path(aside[0] + "/index.html"), encoding: .utf8) == "<h1>defaced</h1>\n")
    }
}
