import Foundation
import Testing
import TestSupport

/// postgresql and mysql sources against real servers on loopback: dumps that do not change when the
/// data does not, restores into fresh databases compared row by row, secrets kept off every command
/// line and environment, and one clear line for each bad input.
@Suite(.serialized) struct DatabaseSourceTests {
    static func password(_ server: TestServer) throws -> String {
        try String(contentsOfFile: server.string("password_file"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - PostgreSQL

    func psql(_ server: TestServer, _ sql: String, database: String = "postgres") throws -> String {
        let result = try Sandbox.shell("PGPASSWORD='\(try Self.password(server))' psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 "
                                       + "-p \(server.port) -U \(server.string("user")) -d \(database) -c \"\(sql)\" 2>&1")
        #expect(result.status == 0, "psql: \(result.output)")
        return result.output
    }

    /// Row count and an order-independent checksum of every table of a database.
    func fingerprint(_ server: TestServer, _ database: String) throws -> String {
        try psql(server, "SELECT string_agg(t, ',' ORDER BY t) FROM (SELECT 'items:' || count(*) || ':' || coalesce(sum(hashtext(i::text)), 0) AS t FROM items i "
                 + "UNION ALL SELECT 'notes:' || count(*) || ':' || coalesce(sum(hashtext(n::text)), 0) FROM notes n) s", database: database)
    }

    func postgresSandbox(_ server: TestServer) throws -> Sandbox {
        let sandbox = try Sandbox()
        _ = try psql(server, "CREATE DATABASE app")
        _ = try psql(server, "CREATE TABLE items(id serial PRIMARY KEY, name text, price numeric); "
                     + "INSERT INTO items(name, price) SELECT 'item ' || g, g * 1.5 FROM generate_series(1, 200000) g; "
                     + "CREATE TABLE notes(id int, body text); INSERT INTO notes VALUES (1, 'été'), (2, E'line\\nbreak');",
                     database: "app")
        let connection = "host: 127.0.0.1, port: \(server.port), user: \(server.string("user")), password_file: \(server.string("password_file"))"
        try sandbox.configure("""
            collect_points:
              db:
                engine: files
                path: $ROOT/collect
                sources:
                  plain: {engine: postgresql, database: app, \(connection)}
                  custom: {engine: postgresql, database: app, format: custom, \(connection)}
                  cluster: {engine: postgresql, \(connection)}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        return sandbox
    }

    @Test func postgresqlDumpsAreStableAndRestoreIntoNewDatabases() throws {
        guard let server = try TestServer.start("postgresql.py") else { return }
        defer { server.stop() }
        let sandbox = try postgresSandbox(server)
        let password = try Self.password(server)
        // The password never shows on a command line or in an environment while the dumps run.
        let watcher = ProcessWatcher(secrets: [password])
        let first = try sandbox.apply()
        let watched = watcher.stop()
        #expect(first.status == 0, "\(first.stdout)")
        #expect(watched.seen.contains("pg_dump") && watched.seen.contains("pg_dumpall"), "the watcher saw the dumps: \(watched.seen.sorted())")
        #expect(watched.leaks.isEmpty, "\(watched.leaks)")
        #expect(!(first.stdout + first.stderr).contains(password))
        #expect(try Sandbox.shell("grep -rlF '\(password)' /tmp/polyarchiv-secret-* 2>/dev/null").output.isEmpty,
                "no password file is left behind")
        let cluster = try String(contentsOfFile: sandbox.path("collect/cluster.sql"), encoding: .utf8)
        #expect(cluster.contains("CREATE ROLE polyarchiv") && cluster.contains("CREATE DATABASE app"), "pg_dumpall has roles and databases")
        // Unchanged data: identical dumps, so the collect point and the upload are cache hits.
        let again = try sandbox.apply(["--force"])
        #expect(again.stdout.contains("cached       collect:db"), "\(again.stdout)")
        #expect(again.stdout.contains("cached       upload:local/db"))
        // One changed row: a new dump.
        _ = try psql(server, "UPDATE notes SET body = 'changed' WHERE id = 1", database: "app")
        let changed = try sandbox.apply(["--force"])
        #expect(changed.stdout.contains("succeeded    collect:db"), "\(changed.stdout)")
        let original = try fingerprint(server, "app")

        // Restore from the backup on a fresh machine into new databases, plain and custom format.
        try FileManager.default.removeItem(atPath: sandbox.state)
        func restore(_ target: String, _ extra: [String]) throws -> CLI.Result {
            try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "db", "--target", sandbox.path(target)] + extra)
        }
        let plain = try restore("r1", ["--source", "plain", "--into", "app_plain"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("restored database app_plain"))
        #expect(try fingerprint(server, "app_plain") == original)
        let custom = try restore("r2", ["--source", "custom", "--into", "app_custom"])
        #expect(custom.status == 0, "\(custom.stderr)")
        #expect(try fingerprint(server, "app_custom") == original)
        // A re-dump of the restored database is byte for byte the dump of the original.
        let dump = "PGPASSWORD='\(password)' pg_dump --restrict-key=same -h 127.0.0.1 -p \(server.port) -U polyarchiv"
        let redump = try Sandbox.shell("\(dump) app_plain | sha256sum; \(dump) app | sha256sum")
        let sums = redump.output.split(separator: "\n")
        #expect(sums.count == 2 && sums[0] == sums[1], "\(redump.output)")
        // Never into a database that holds data, unless told.
        let refused = try restore("r3", ["--source", "plain", "--into", "app"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("database app is not empty"), "\(refused.stderr)")
        #expect(try fingerprint(server, "app") == original)
    }

    @Test func postgresqlBadInputsFailTheirSourceOnlyWithOneClearLine() throws {
        guard let server = try TestServer.start("postgresql.py") else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("wrong-password", "not-the-password")
        let user = "user: \(server.string("user")), host: 127.0.0.1"
        try sandbox.configure("""
            collect_points:
              db:
                engine: files
                path: $ROOT/collect
                sources:
                  wrong: {engine: postgresql, database: postgres, \(user), port: \(server.port), password_file: $ROOT/wrong-password}
                  missing: {engine: postgresql, database: nosuchdb, \(user), port: \(server.port), password_file: \(server.string("password_file"))}
                  unreachable: {engine: postgresql, database: postgres, \(user), port: 1, password_file: \(server.string("password_file")), timeout: 30s}
                  fine: {engine: command, command: "echo fine"}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 2)
        #expect(run.stdout.contains("password authentication failed"), "\(run.stdout)")
        #expect(run.stdout.contains("\"nosuchdb\" does not exist"), "\(run.stdout)")
        #expect(run.stdout.contains("Connection refused"), "\(run.stdout)")
        #expect(run.stdout.contains("succeeded    dump:db/fine"), "the other sources still run")
        // No pg_dump on PATH: the package to install is named.
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = "/nonexistent"
        let missingTool = try CLI.run(["apply", "-c", sandbox.config, "--state-dir", sandbox.state, "--force"],
                                                   environment: environment)
        #expect(missingTool.stdout.contains("pg_dump is not installed (not found on PATH); install postgresql-client"), "\(missingTool.stdout)")
    }

    @Test func postgresqlThroughSudoAsThePostgresUser() throws {
        guard let server = try TestServer.start("postgresql.py") else { return }
        defer { server.stop() }
        guard try Sandbox.shell("command -v sudo").status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("sudo is missing: apt-get install sudo") }
            return
        }
        _ = try psql(server, "CREATE DATABASE app")
        _ = try psql(server, "CREATE TABLE t(x int); INSERT INTO t VALUES (42);", database: "app")
        let sandbox = try Sandbox()
        // Local socket, trusted for the postgres user: pg_dump must run as that user.
        try sandbox.configure("""
            collect_points:
              db:
                engine: files
                path: $ROOT/collect
                sources: {app: {engine: postgresql, database: app, host: \(server.string("socket_dir")), port: \(server.port), user: postgres, sudo_user: postgres}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        #expect(try String(contentsOfFile: sandbox.path("collect/app.sql"), encoding: .utf8).contains("42"))
        // Restored as the postgres user too, from a dump only root can read (0600 in a 0700 directory).
        let restore = try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "db", "--source", "app", "--into", "app_back",
                                   "--target", sandbox.path("restored")])
        #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
        #expect(try psql(server, "SELECT x FROM t", database: "app_back").contains("42"))
    }

    /// `options:` reach pg_dump (the data of `logs` is left out, its table kept), the programs can be given by
    /// path, and the options polyarchiv sets itself are refused at file:line.
    @Test func postgresqlOptionsAndProgramPaths() throws {
        guard let server = try TestServer.start("postgresql.py") else { return }
        defer { server.stop() }
        _ = try psql(server, "CREATE DATABASE opts")
        _ = try psql(server, "CREATE TABLE orders(id int); INSERT INTO orders VALUES (1), (2); "
                     + "CREATE TABLE logs(line text); INSERT INTO logs VALUES ('noise');", database: "opts")
        let sandbox = try Sandbox()
        let connection = "host: 127.0.0.1, port: \(server.port), user: \(server.string("user")), password_file: \(server.string("password_file"))"
        let bin = try Sandbox.shell("ls -d /usr/lib/postgresql/*/bin | tail -1").output.trimmingCharacters(in: .whitespacesAndNewlines)
        try sandbox.configure("""
            collect_points:
              db:
                engine: files
                path: $ROOT/collect
                sources:
                  opts: {engine: postgresql, database: opts, \(connection), options: ["--exclude-table-data=logs", "--no-owner"],
                         pg_dump_command: \(bin)/pg_dump, psql_command: \(bin)/psql}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        let dump = try String(contentsOfFile: sandbox.path("collect/opts.sql"), encoding: .utf8)
        #expect(dump.contains("CREATE TABLE public.logs") && !dump.contains("noise") && !dump.contains("OWNER TO"), "options reached pg_dump")
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "db", "--target", sandbox.path("r"), "--source", "opts",
                                    "--into", "opts_back"])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try psql(server, "SELECT count(*) FROM orders", database: "opts_back") == "2\n")
        #expect(try psql(server, "SELECT count(*) FROM logs", database: "opts_back") == "0\n")
        try sandbox.configure(try String(contentsOfFile: sandbox.config, encoding: .utf8)
            .replacingOccurrences(of: "\"--no-owner\"", with: "\"--file=/tmp/elsewhere.sql\""))
        let refused = try CLI.run(["validate", "-c", sandbox.config])
        #expect(refused.status == 1 && refused.stderr.contains("options: `--file=/tmp/elsewhere.sql` is set by polyarchiv itself"),
                "\(refused.stderr)")
        try sandbox.configure(try String(contentsOfFile: sandbox.config, encoding: .utf8)
            .replacingOccurrences(of: "\"--file=/tmp/elsewhere.sql\"", with: "\"--no-owner\"")
            .replacingOccurrences(of: "\(bin)/pg_dump", with: "/nonexistent/pg_dump"))
        let missing = try sandbox.apply()
        #expect(missing.status == 2 && missing.stdout.contains("/nonexistent/pg_dump is not installed"), "\(missing.stdout)")
    }

    // MARK: - MariaDB

    func mariadb(_ server: TestServer, _ sql: String, database: String = "") throws -> String {
        let result = try Sandbox.shell("mariadb --defaults-extra-file=\(server.string("client_config")) -N -B \(database) -e \"\(sql)\" 2>&1")
        #expect(result.status == 0, "mariadb: \(result.output)")
        return result.output
    }

    @Test func mysqlDumpsAreStableAndRestoreIntoANewDatabase() throws {
        guard let server = try TestServer.start("mariadb.py") else { return }
        defer { server.stop() }
        _ = try mariadb(server, "CREATE DATABASE shop; USE shop; CREATE TABLE items(id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50), "
                        + "price DECIMAL(8,2)); CREATE TRIGGER up BEFORE UPDATE ON items FOR EACH ROW SET NEW.name = UPPER(NEW.name);")
        _ = try mariadb(server, "INSERT INTO items(name, price) SELECT CONCAT('item ', seq), seq * 1.5 FROM seq_1_to_100000", database: "shop")
        let password = try Self.password(server)
        let sandbox = try Sandbox()
        let connection = "host: 127.0.0.1, port: \(server.port), user: \(server.string("user")), password_file: \(server.string("password_file"))"
        try sandbox.configure("""
            collect_points:
              db:
                engine: files
                path: $ROOT/collect
                sources:
                  shop: {engine: mysql, database: shop, \(connection)}
                  everything: {engine: mysql, \(connection)}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        let watcher = ProcessWatcher(secrets: [password])
        let first = try sandbox.apply()
        let watched = watcher.stop()
        #expect(first.status == 0, "\(first.stdout)")
        #expect(watched.seen.contains("mariadb-dump"), "\(watched.seen.sorted())")
        #expect(watched.leaks.isEmpty, "\(watched.leaks)")
        let dump = try String(contentsOfFile: sandbox.path("collect/shop.sql"), encoding: .utf8)
        #expect(dump.contains("TRIGGER up BEFORE UPDATE"), "triggers are dumped")
        #expect(!dump.contains("Dump completed on"), "no dump date")
        let again = try sandbox.apply(["--force"])
        #expect(again.stdout.contains("cached       collect:db"), "\(again.stdout)")
        _ = try mariadb(server, "UPDATE items SET price = 0 WHERE id = 7", database: "shop")
        #expect(try sandbox.apply(["--force"]).stdout.contains("succeeded    collect:db"))
        let checksum = try mariadb(server, "CHECKSUM TABLE shop.items").split(separator: "\t").last.map(String.init)
        try FileManager.default.removeItem(atPath: sandbox.state)
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "db", "--target", sandbox.path("r"),
                                                 "--source", "shop", "--into", "shop_restored"])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try mariadb(server, "SELECT COUNT(*) FROM shop_restored.items") == "100000\n")
        #expect(try mariadb(server, "CHECKSUM TABLE shop_restored.items").split(separator: "\t").last.map(String.init) == checksum)
        #expect(try mariadb(server, "SHOW TRIGGERS FROM shop_restored").contains("up"))
        // options: and the dump program's path.
        let dumpPath = try Sandbox.shell("command -v mariadb-dump").output.trimmingCharacters(in: .whitespacesAndNewlines)
        try sandbox.configure(try String(contentsOfFile: sandbox.config, encoding: .utf8)
            .replacingOccurrences(of: "shop: {engine: mysql, database: shop,",
                                  with: "shop: {engine: mysql, database: shop, options: [--ignore-table=shop.items], dump_command: \(dumpPath),"))
        #expect(try sandbox.apply(["--force"]).status == 0)
        let filtered = try String(contentsOfFile: sandbox.path("collect/shop.sql"), encoding: .utf8)
        #expect(!filtered.contains("CREATE TABLE `items`"), "the option reached the dump")
        let refused = try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "db", "--target", sandbox.path("r2"),
                                                "--source", "shop", "--into", "shop"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("database shop is not empty"), "\(refused.stderr)")
        // A dump of every database is not replayed over the server without --replace.
        let everything = try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "db", "--target", sandbox.path("r3"),
                                                   "--source", "everything"])
        #expect(everything.status == 2)
        #expect(everything.stderr.contains("add --replace"), "\(everything.stderr)")
        // A wrong password: one clear line.
        try sandbox.write("bad", "nope")
        try sandbox.configure("""
            collect_points:
              db:
                engine: files
                path: $ROOT/collect2
                sources: {shop: {engine: mysql, database: shop, host: 127.0.0.1, port: \(server.port), user: polyarchiv, password_file: $ROOT/bad}}
            """)
        let wrong = try sandbox.apply()
        #expect(wrong.status == 2)
        #expect(wrong.stdout.contains("Access denied for user"), "\(wrong.stdout)")
    }
}
