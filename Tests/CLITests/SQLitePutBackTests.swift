import Foundation
import Testing
import TestSupport

/// An SQLite database put back over the live file comes back as the application left it to be opened: its
/// owner and mode, and no write-ahead log of the replaced file replayed over it.
@Suite struct SQLitePutBackTests {
    @Test func theLiveFilesLogIsNotReplayedAndItsOwnerAndModeStay() throws {
        let sandbox = try Sandbox()
        let database = sandbox.path("app.sqlite3")
        try Sandbox.shell("sqlite3 '\(database)' \"PRAGMA journal_mode=wal; CREATE TABLE items(x); INSERT INTO items VALUES (1), (2), (3);\"")
        try sandbox.configure("""
            collect_points:
              app: {engine: files, path: $ROOT/collect, sources: {db: {engine: sqlite, path: $ROOT/app.sqlite3}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        #expect(try sandbox.apply().status == 0)
        // The application drops the table; its process dies before a checkpoint: the change is only in the -wal.
        let dropped = try Sandbox.shell("""
            python3 -c "import sqlite3,os,sys
            c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0'); c.execute('DROP TABLE items'); c.commit(); os._exit(0)" '\(database)' 2>&1
            """)
        #expect(dropped.status == 0, "\(dropped.output)")
        #expect(FileManager.default.fileExists(atPath: database + "-wal"))
        if getuid() == 0 { #expect(try Sandbox.shell("chown nobody:nogroup '\(database)'").status == 0) }
        chmod(database, 0o640)
        var before = stat()
        stat(database, &before)
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "app", "--source", "db", "--into", database, "--replace",
                                    "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stdout)\(restored.stderr)")
        #expect(restored.stdout.contains("moved aside"), "\(restored.stdout)")
        let rows = try Sandbox.shell("sqlite3 '\(database)' 'SELECT count(*) FROM items'")
        #expect(rows.output.trimmingCharacters(in: .whitespacesAndNewlines) == "3", "the backup's table is there: \(rows.output)")
        var after = stat()
        stat(database, &after)
        #expect(after.st_mode & 0o7777 == 0o640 && after.st_uid == before.st_uid && after.st_gid == before.st_gid,
                "owner and mode kept: \(String(after.st_mode & 0o7777, radix: 8)) \(after.st_uid):\(after.st_gid)")
        let aside = try Sandbox.shell("ls '\(sandbox.root.path)' | grep -c 'app.sqlite3-wal.polyarchiv-before-restore-'")
        #expect(aside.output.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "the old log is kept aside: \(aside.output)")
    }

    /// `restore --in-place --dry-run` says what the real run does: a files source moves what is there aside, an
    /// SQLite database that exists is refused without --replace (it said "moved aside", then refused).
    @Test func theDryRunSaysWhatAnInPlaceRestoreDoes() throws {
        let sandbox = try Sandbox()
        try sandbox.write("www/index.html", "site\n")
        try Sandbox.shell("sqlite3 '\(sandbox.path("app.sqlite3"))' 'CREATE TABLE items(x); INSERT INTO items VALUES (1);'")
        try sandbox.configure("""
            collect_points:
              app:
                engine: files
                path: $ROOT/collect
                sources: {www: {engine: files, path: $ROOT/www}, db: {engine: sqlite, path: $ROOT/app.sqlite3}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        #expect(try sandbox.apply().status == 0)
        let preview = try sandbox.run("restore", ["--in-place", "--yes", "--dry-run"])
        #expect(preview.status == 0, "\(preview.stderr)")
        #expect(preview.stdout.contains("put back source www (files) from www/ where it came from, what is there moved aside"), "\(preview.stdout)")
        #expect(preview.stdout.contains("put back source db (sqlite) from db.sqlite3 where it came from, refused if something is already there (add --replace)"),
                "\(preview.stdout)")
        let real = try sandbox.run("restore", ["--in-place", "--yes"])
        #expect(real.status == 2 && real.stderr.contains("exists; choose another --into or add --replace"), "\(real.stdout)\(real.stderr)")
    }
}
