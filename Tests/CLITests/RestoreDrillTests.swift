import Foundation
import Testing
import TestSupport

/// `verify_drill`: each database dump of the newest backup restored into a scratch database on its own
/// server (SQLite: a scratch file), rows counted per table and compared with the counts taken while it
/// was dumped (recorded in the metadata document); the scratch databases are dropped; a mismatch is a
/// failed verification.
@Suite(.serialized) struct RestoreDrillTests {
    @Test func databaseDumpsAreRestoredIntoScratchDatabasesAndTheirRowsCounted() throws {
        guard let postgres = try TestServer.start("postgresql.py") else { return }
        defer { postgres.stop() }
        guard let mariadb = try TestServer.start("mariadb.py") else { return }
        defer { mariadb.stop() }
        let psql = try postgres.psql()
        let mysql = mariadb.mariadb
        let sandbox = try Sandbox()
        _ = try CLI.succeed("\(psql) -d postgres -c 'CREATE DATABASE shop'")
        _ = try CLI.succeed("\(psql) -d shop -c \"CREATE TABLE items(id int PRIMARY KEY, name text); CREATE TABLE empty(x int); "
                      + "INSERT INTO items SELECT g, E'item\\\\n' || g FROM generate_series(1, 5000) g\"")
        _ = try CLI.succeed("\(mysql) -e \"CREATE DATABASE blog; USE blog; CREATE TABLE posts(id INT PRIMARY KEY, title VARCHAR(50)); "
                      + "INSERT INTO posts SELECT seq, CONCAT('it''s (', seq, ')') FROM seq_1_to_3000\"")
        _ = try CLI.succeed("sqlite3 '\(sandbox.path("app.sqlite3"))' \"CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT); "
                      + "INSERT INTO users(name) VALUES ('alice'), ('bob')\"")
        let (pg, my) = (postgres.connection, mariadb.connection)
        try sandbox.configure("""
            collect_points:
              server:
                engine: files
                path: $ROOT/collect
                sources:
                  shop: {engine: postgresql, database: shop, \(pg)}
                  blog: {engine: mysql, database: blog, \(my)}
                  app: {engine: sqlite, path: $ROOT/app.sqlite3}
            backup_points:
              offsite: {engine: archive, url: "file://$ROOT/backups/{name}.tar.zst", verify_drill: true}
            """)
        let applied = try sandbox.apply()
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        // The counts taken while the dumps streamed by are the databases' own.
        let documentPath = sandbox.path("backups/" + Sandbox.document("offsite", "server"))
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: documentPath))) as? [String: Any]
        let rows = ((document?["backups"] as? [[String: Any]])?.last?["rows"]) as? [String: [String: Int]]
        #expect(rows?["shop.sql"] == ["public.items": 5000, "public.empty": 0], "\(String(describing: rows))")
        #expect(rows?["blog.sql"] == ["posts": 3000], "\(String(describing: rows))")
        #expect(rows?["app.sqlite3"] == ["users": 2], "\(String(describing: rows))")
        let checks = try sandbox.query("SELECT CAST(value AS TEXT) FROM engine_state WHERE namespace = 'verify'").joined()
        for source in ["shop", "blog", "app"] {
            #expect(checks.contains("restore drill of \(source): restored into a scratch database"), "\(source): \(checks)")
        }
        #expect(checks.contains("5000 rows, as many as when it was dumped"), "\(checks)")
        // The scratch databases are gone.
        #expect(!(try CLI.succeed("\(psql) -d postgres -c 'SELECT datname FROM pg_database'")).contains("polyarchiv_scratch"))
        #expect(!(try CLI.succeed("\(mysql) -e 'SHOW DATABASES'")).contains("polyarchiv_scratch"))

        // A dump that restores with fewer rows than it was made with fails the drill: here the record says
        // one row more than the dump holds.
        var text = try String(contentsOfFile: documentPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"public.items\" : 5000", with: "\"public.items\" : 5001")
        text = text.replacingOccurrences(of: "\"public.items\":5000", with: "\"public.items\":5001")
        try text.write(toFile: documentPath, atomically: false, encoding: .utf8)
        let drilled = try sandbox.run("verify")
        #expect(drilled.status == 2, "\(drilled.stdout)")
        #expect(drilled.stdout.contains("restore drill of shop: table public.items has 5000 rows once restored, 5001 when it was dumped"),
                "\(drilled.stdout)")
        #expect(!(try CLI.succeed("\(psql) -d postgres -c 'SELECT datname FROM pg_database'")).contains("polyarchiv_scratch"))
        _ = try CLI.succeed("\(psql) -d postgres -c 'DROP DATABASE shop'")
        _ = try CLI.succeed("\(mysql) -e 'DROP DATABASE blog'")
    }

    /// A drill killed halfway leaves its scratch database (a full copy of production data) and its password
    /// file; the next drill on this host removes both, and never another host's scratch database.
    @Test func whatAKilledDrillLeftIsRemovedByTheNextOneOnThisHostOnly() throws {
        guard let postgres = try TestServer.start("postgresql.py") else { return }
        defer { postgres.stop() }
        let psql = try postgres.psql()
        let value = postgres.value
        let sandbox = try Sandbox()
        _ = try CLI.succeed("\(psql) -d postgres -c 'CREATE DATABASE shop'")
        try postgres.makeSlowToRestore("shop")
        // Another host's drill, still running or not: not this host's to drop.
        let otherHost = "polyarchiv_scratch_0badc0de_4242_abcdef"
        _ = try CLI.succeed("\(psql) -d postgres -c 'CREATE DATABASE \(otherHost)'")
        try sandbox.configure("""
            collect_points:
              server:
                engine: files
                path: $ROOT/collect
                sources: {shop: {engine: postgresql, database: shop, \(postgres.connection)}}
            backup_points:
              offsite: {engine: archive, url: "file://$ROOT/backups/{name}.tar.zst", verify_drill: true}
            """)
        let role = "ALTER ROLE \(postgres.string("user"))"
        _ = try CLI.succeed("\(psql) -d postgres -c '\(role) SET polyarchiv.fast = on'")  // the first drill, at apply
        let applied = try sandbox.apply()
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        _ = try CLI.succeed("\(psql) -d postgres -c '\(role) RESET polyarchiv.fast'")
        let verify = Process()
        verify.executableURL = CLI.binary
        verify.arguments = ["verify", "-c", sandbox.config, "--state-dir", sandbox.state]
        verify.standardOutput = FileHandle.nullDevice
        verify.standardError = FileHandle.nullDevice
        try verify.run()
        var copying = false
        for _ in 0..<600 where !copying {
            copying = try value("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY public.gated%' AND state = 'active'") != "0"
            if !copying { usleep(100_000) }
        }
        #expect(copying, "the drill is restoring the dump")
        kill(verify.processIdentifier, SIGKILL)
        verify.waitUntilExit()
        let pid = verify.processIdentifier
        let scratch = try value("SELECT string_agg(datname, ' ') FROM pg_database WHERE datname LIKE 'polyarchiv_scratch_%' AND datname <> '\(otherHost)'")
        #expect(scratch.contains("_\(pid)_"), "the killed drill's scratch database is there: \(scratch)")
        let secrets = try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("polyarchiv-secret-\(pid)-") }
        #expect(secrets.count == 1, "the killed drill's password file is there: \(secrets)")

        _ = try CLI.succeed("\(psql) -d postgres -c '\(role) SET polyarchiv.fast = on'")
        let again = try sandbox.run("verify")
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        #expect(again.stdout.contains("dropped the scratch database \(scratch) that an interrupted run of this host left"), "\(again.stdout)")
        #expect(try value("SELECT string_agg(datname, ' ') FROM pg_database WHERE datname LIKE 'polyarchiv_scratch_%'") == otherHost)
        let left = try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("polyarchiv-secret-\(pid)-") }
        #expect(left.isEmpty, "\(left)")
        _ = try CLI.succeed("\(psql) -d postgres -c 'DROP DATABASE \(otherHost)' -c 'DROP DATABASE shop'")
    }

    /// MariaDB's drill: a scratch database that a dead process of this host left is dropped before the next
    /// drill; another host's, and a running polyarchiv's (this test's own process), are not.
    @Test func aMariaDBDrillDropsWhatADeadRunOfThisHostLeftOnly() throws {
        guard let mariadb = try TestServer.start("mariadb.py") else { return }
        defer { mariadb.stop() }
        let mysql = mariadb.mariadb
        let tag = try CLI.succeed("printf %s \"$(hostname)\" | sha256sum | cut -c1-8").trimmingCharacters(in: .whitespacesAndNewlines)
        var dead: Int32 = 4_194_000
        while FileManager.default.fileExists(atPath: "/proc/\(dead)") { dead += 1 }
        let leftover = "polyarchiv_scratch_\(tag)_\(dead)_abc123"
        let live = "polyarchiv_scratch_\(tag)_\(getpid())_abc123"
        let otherHost = "polyarchiv_scratch_0badc0de_\(dead)_abc123"
        _ = try CLI.succeed("\(mysql) -e \"CREATE DATABASE blog; USE blog; CREATE TABLE posts(id INT PRIMARY KEY); INSERT INTO posts VALUES (1), (2); "
                            + "CREATE DATABASE \(leftover); CREATE DATABASE \(live); CREATE DATABASE \(otherHost)\"")
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              server: {engine: files, path: $ROOT/collect, sources: {blog: {engine: mysql, database: blog, \(mariadb.connection)}}}
            backup_points:
              offsite: {engine: archive, url: "file://$ROOT/backups/{name}.tar.zst", verify_drill: true}
            """)
        let applied = try sandbox.apply()
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        #expect(applied.stdout.contains("dropped the scratch database \(leftover) that an interrupted run of this host left"), "\(applied.stdout)")
        let left = try CLI.succeed("\(mysql) -e \"SHOW DATABASES LIKE 'polyarchiv_scratch_%'\"").split(separator: "\n").map(String.init).sorted()
        #expect(left == [live, otherHost].sorted(), "\(left)")
        _ = try CLI.succeed("\(mysql) -e 'DROP DATABASE blog; DROP DATABASE \(live); DROP DATABASE \(otherHost)'")
    }
}
