import Foundation
import Testing
import TestSupport

/// The machine is lost: a file tree, a PostgreSQL and a MariaDB database, an LDAP directory, a Dovecot
/// mailbox, an SQLite file and a command's data are put back from the backup point in one
/// `restore --in-place --yes`, on an empty state, and compared byte for byte, row for row and entry for
/// entry. What is in the way (a database that holds tables, entries still in the directory) stops only
/// its own source, until --replace.
@Suite(.serialized) struct DisasterRecoveryTests {
    @Test func everySourceComesBackInOneCommand() throws {
        guard let postgres = try TestServer.start("postgresql.py") else { return }
        defer { postgres.stop() }
        guard let mariadb = try TestServer.start("mariadb.py") else { return }
        defer { mariadb.stop() }
        guard let slapd = try TestServer.start("slapd.py") else { return }
        defer { slapd.stop() }
        guard let dovecot = try TestServer.start("dovecot.py") else { return }
        defer { dovecot.stop() }
        let bind = "-x -H \(slapd.string("url")) -D '\(slapd.string("bind_dn"))' -y '\(slapd.string("password_file"))'"
        let directory = "ldapsearch \(bind) -LLL -o ldif-wrap=no -b '\(slapd.string("suffix"))' '(objectClass=*)' '*'"
        let psql = try postgres.psql()
        let mysql = mariadb.mariadb
        let sandbox = try Sandbox()
        let root = sandbox.root.path
        _ = try CLI.succeed("\(psql) -d postgres -c 'CREATE DATABASE shop'")
        _ = try CLI.succeed("\(psql) -d shop -c \"CREATE TABLE items(id int PRIMARY KEY, name text); "
                      + "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 5000) g\"")
        _ = try CLI.succeed("\(mysql) -e \"CREATE DATABASE blog; USE blog; CREATE TABLE posts(id INT PRIMARY KEY, title VARCHAR(50)); "
                      + "INSERT INTO posts SELECT seq, CONCAT('post ', seq) FROM seq_1_to_3000\"")
        _ = try CLI.succeed("mkdir -p '\(root)/srv/www/img' && printf '<h1>home</h1>\\n' > '\(root)/srv/www/index.html' "
                      + "&& head -c 300000 /dev/urandom > '\(root)/srv/www/img/logo.bin' && ln -s index.html '\(root)/srv/www/home'")
        _ = try CLI.succeed("sqlite3 '\(root)/srv/app.sqlite3' \"CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT); "
                      + "INSERT INTO users(name) VALUES ('alice'), ('bob')\"")
        try sandbox.write("srv/notes.txt", "remember the milk\n")
        let (pg, my) = (postgres.connection, mariadb.connection)
        try sandbox.configure("""
            collect_points:
              server:
                engine: files
                path: $ROOT/collect
                sources:
                  www: {engine: files, path: $ROOT/srv/www}
                  shop: {engine: postgresql, database: shop, \(pg)}
                  blog: {engine: mysql, database: blog, \(my)}
                  app: {engine: sqlite, path: $ROOT/srv/app.sqlite3}
                  notes: {engine: command, command: "cat $ROOT/srv/notes.txt", restore_command: "cat > $ROOT/srv/notes.txt"}
                  people: {engine: ldap, url: "\(slapd.string("url"))", bind_dn: "\(slapd.string("bind_dn"))", password_file: \(slapd.string("password_file")), base: "\(slapd.string("suffix"))"}
                  mail: {engine: dovecot, user: alice, config: \(dovecot.string("config"))}
            backup_points:
              offsite: {engine: archive, url: "file://$ROOT/backups/{name}.tar.zst"}
            """)
        let applied = try sandbox.apply()
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        let before = (try CLI.succeed("cd '\(root)/srv/www' && find . -name '.polyarchiv-before-restore-*' -prune -o -printf '%p %y %l\\n' | sort && find . -name '.polyarchiv-before-restore-*' -prune -o -type f -print0 | sort -z | xargs -0 sha256sum"),
                      try CLI.succeed("\(psql) -d shop -c 'SELECT count(*), sum(hashtext(i::text)) FROM items i'"),
                      try CLI.succeed("\(mysql) -e 'SELECT count(*), sum(crc32(title)) FROM blog.posts'"),
                      try CLI.succeed("sqlite3 '\(root)/srv/app.sqlite3' 'SELECT * FROM users'"),
                      Set(try CLI.succeed(directory).components(separatedBy: "\n\n")))

        // The disaster: every source gone, the local state and the collect point with them.
        _ = try CLI.succeed("rm -rf '\(root)/srv' '\(root)/collect' '\(sandbox.state)'")
        _ = try CLI.succeed("\(psql) -d postgres -c 'DROP DATABASE shop'")
        _ = try CLI.succeed("\(mysql) -e 'DROP DATABASE blog'")
        _ = try CLI.succeed("ldapdelete \(bind) 'uid=bob,ou=people,dc=example,dc=org'")
        // Someone already made a new `shop` with the dump's own table: without --replace that source is refused,
        // the others go on.
        _ = try CLI.succeed("\(psql) -d postgres -c 'CREATE DATABASE shop' && \(psql) -d shop -c \"CREATE TABLE items(id int PRIMARY KEY, name text); "
                            + "INSERT INTO items VALUES (1, 'made after the disaster')\"")
        _ = try CLI.succeed("mkdir -p '\(root)/srv'")
        // The usual disaster layout: a fresh volume mounted where the files were (as root; else a directory).
        let mounted = try getuid() == 0 && mountTmpfs(at: root + "/srv/www", size: "16m")
        defer { if mounted { _ = try? Sandbox.shell("umount '\(root)/srv/www'") } }

        let refused = try CLI.run(["restore", "-c", sandbox.config, "--in-place", "--yes"])
        #expect(refused.status == 2, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stdout.contains("shop: FAILED: database shop is not empty"), "\(refused.stdout)")
        // alice is still in the directory: adding the backup's entries over her needs --replace.
        #expect(refused.stdout.contains("people: FAILED: "), "\(refused.stdout)")
        #expect(refused.stdout.contains("5 of 7 sources put back; 2 failed"), "\(refused.stdout)")
        #expect(try CLI.succeed("\(mysql) -e 'SELECT count(*), sum(crc32(title)) FROM blog.posts'") == before.2)
        #expect(try CLI.succeed("\(psql) -d shop -c 'SELECT name FROM items'") == "made after the disaster\n", "the database in the way is untouched")

        // The application has run meanwhile: its database belongs to its user and has a write-ahead log.
        _ = try CLI.succeed("chown nobody:nogroup '\(root)/srv/app.sqlite3' && chmod 0640 '\(root)/srv/app.sqlite3' "
                            + "&& printf 'stale log' > '\(root)/srv/app.sqlite3-wal'")

        // With --replace, all of it; the files put back by the first run are moved aside, never deleted.
        let replaced = try CLI.run(["restore", "-c", sandbox.config, "--in-place", "--yes", "--replace"])
        #expect(replaced.status == 0, "\(replaced.stdout)\(replaced.stderr)")
        #expect(replaced.stdout.contains("7 of 7 sources put back"), "\(replaced.stdout)")
        let lines = replaced.stdout.split(separator: "\n").filter { $0.hasPrefix("  ") && $0.contains(": ") && !$0.contains("sources put back") }
        #expect(lines.map { $0.trimmingCharacters(in: .whitespaces).prefix { $0 != ":" } } == ["www", "shop", "blog", "people", "app", "notes", "mail"]
                || lines.map { $0.trimmingCharacters(in: .whitespaces).prefix { $0 != ":" } } == ["www", "blog", "shop", "people", "app", "notes", "mail"],
                "one line per source, files first, then databases, the directory, SQLite and commands, mail: \(lines)")
        #expect(try CLI.succeed("cd '\(root)/srv/www' && find . -name '.polyarchiv-before-restore-*' -prune -o -printf '%p %y %l\\n' | sort && find . -name '.polyarchiv-before-restore-*' -prune -o -type f -print0 | sort -z | xargs -0 sha256sum")
                == before.0)
        #expect(try CLI.succeed("\(psql) -d shop -c 'SELECT count(*), sum(hashtext(i::text)) FROM items i'") == before.1)
        #expect(try CLI.succeed("\(mysql) -e 'SELECT count(*), sum(crc32(title)) FROM blog.posts'") == before.2)
        #expect(try CLI.succeed("sqlite3 '\(root)/srv/app.sqlite3' 'SELECT * FROM users'") == before.3)
        #expect(try String(contentsOfFile: sandbox.path("srv/notes.txt"), encoding: .utf8) == "remember the milk\n")
        #expect(Set(try CLI.succeed(directory).components(separatedBy: "\n\n")) == before.4, "bob is back, entry for entry")
        let mailboxes = try CLI.succeed("doveadm -c '\(dovecot.string("config"))' mailbox status -u alice messages '*'")
        #expect(mailboxes.range(of: #"restored-[^ ]*/INBOX messages=3"#, options: .regularExpression) != nil, "\(mailboxes)")
        // The database it replaced is kept aside, renamed, with what it held.
        let aside = try CLI.succeed("\(psql) -d postgres -c \"SELECT datname FROM pg_database WHERE datname LIKE 'shop.polyarchiv-before-restore-%'\"")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!aside.isEmpty && replaced.stdout.contains("what it held is kept as database \(aside)"), "\(replaced.stdout)")
        if !aside.isEmpty {
            #expect(try CLI.succeed("\(psql) -d '\(aside)' -c 'SELECT name FROM items'") == "made after the disaster\n")
            _ = try CLI.succeed("\(psql) -d postgres -c 'DROP DATABASE \"\(aside)\"'")
        }
        // The replaced SQLite file's owner and mode are the restored one's; the old log is moved aside, not replayed.
        #expect(try CLI.succeed("stat -c '%U %a' '\(root)/srv/app.sqlite3'") == "nobody 640\n")
        #expect(!FileManager.default.fileExists(atPath: root + "/srv/app.sqlite3-wal"))
        #expect(try CLI.succeed("ls '\(root)/srv'").contains("app.sqlite3-wal.polyarchiv-before-restore-"))
        // The first run's files were moved aside: beside the directory, or inside the mount point (same volume).
        let listing = try CLI.succeed(mounted ? "ls -a '\(root)/srv/www'" : "ls '\(root)/srv'")
        #expect(listing.contains(mounted ? ".polyarchiv-before-restore-" : "www.polyarchiv-before-restore-"), "\(listing)")
        _ = try CLI.succeed("\(psql) -d postgres -c 'DROP DATABASE shop'")
        _ = try CLI.succeed("\(mysql) -e 'DROP DATABASE blog'")
    }

    /// Ctrl-C or SIGTERM stops the tools a run started, not only polyarchiv: a pg_dump waiting for a lock and
    /// a psql filling a database stop with it (they used to inherit a signal mask that blocked SIGTERM, and
    /// a restore said nothing was left while psql went on filling the database). An interrupted restore of
    /// one database leaves the server as it was, and says so.
    @Test func anInterruptedRunStopsItsDatabaseToolsAndLeavesTheServerAsItWas() throws {
        guard let postgres = try TestServer.start("postgresql.py") else { return }
        defer { postgres.stop() }
        let psql = try postgres.psql()
        let value = postgres.value
        let sandbox = try Sandbox()
        _ = try CLI.succeed("\(psql) -d postgres -c 'CREATE DATABASE stock' && \(psql) -d stock -c "
                            + "'CREATE TABLE items(id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 1000)'")
        try postgres.makeSlowToRestore("stock")
        try sandbox.configure("""
            collect_points:
              server:
                engine: files
                path: $ROOT/collect
                sources: {stock: {engine: postgresql, database: stock, \(postgres.connection)}}
            backup_points:
              offsite: {engine: archive, url: "file://$ROOT/backups/{name}.tar.zst"}
            """)
        let applied = try sandbox.apply()
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")

        // pg_dump waits for a lock another session holds; SIGTERM stops apply and pg_dump with it.
        let locker = Process()
        locker.executableURL = URL(fileURLWithPath: "/bin/sh")
        locker.arguments = ["-c", "exec env \(psql) -d stock -c 'BEGIN; LOCK TABLE items; SELECT pg_sleep(300)'"]
        locker.standardOutput = FileHandle.nullDevice
        try locker.run()
        defer { if locker.isRunning { kill(locker.processIdentifier, SIGKILL) } }
        #expect(try Self.waitFor { try value("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted AND relation IS NOT NULL") != "0" })
        let apply = try Self.start(["apply", "-c", sandbox.config, "--state-dir", sandbox.state])
        #expect(try Self.waitFor { try value("SELECT count(*) FROM pg_locks WHERE NOT granted") != "0" }, "pg_dump waits for the lock")
        kill(apply.process.processIdentifier, SIGTERM)
        #expect(Self.exits(apply.process), "apply still runs while its pg_dump waits for the lock")
        #expect(apply.process.terminationStatus == 130)
        #expect(locker.isRunning, "the lock was still held when apply stopped")
        #expect(try Self.waitFor { try value("SELECT count(*) FROM pg_locks WHERE NOT granted") == "0" }, "pg_dump stopped too")
        kill(locker.processIdentifier, SIGKILL)
        locker.waitUntilExit()

        // The disaster; then a restore interrupted while psql fills the database.
        _ = try CLI.succeed("\(psql) -d postgres -c 'DROP DATABASE stock WITH (FORCE)'")
        let databases = try value("SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database")
        let restore = try Self.start(["restore", "-c", sandbox.config, "--in-place", "--yes"])
        #expect(try Self.waitFor { try value("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY public.gated%' AND state = 'active'") != "0" },
                "psql is copying the rows in")
        kill(restore.process.processIdentifier, SIGTERM)
        #expect(Self.exits(restore.process), "restore still runs while psql fills the database")
        let output = restore.output()
        #expect(restore.process.terminationStatus == 130, "\(output)")
        #expect(output.contains("stock: interrupted: left as it was before the restore"), "\(output)")
        #expect(try Self.waitFor { try value("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY public.gated%'") == "0" },
                "psql stopped with the restore")
        #expect(try value("SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database") == databases,
                "no database made or left by the interrupted restore")
    }

    /// polyarchiv started in the background, its output (stdout and stderr) collected.
    private static func start(_ arguments: [String]) throws -> (process: Process, output: () -> String) {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        return (process, { String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) })
    }

    /// Whether `condition` came true within a minute (checked every 100 ms).
    private static func waitFor(_ condition: () throws -> Bool) throws -> Bool {
        for _ in 0..<600 {
            if try condition() { return true }
            usleep(100_000)
        }
        return false
    }

    /// Whether the process ended within 30 seconds; killed otherwise (the test has then failed).
    private static func exits(_ process: Process) -> Bool {
        for _ in 0..<300 where process.isRunning { usleep(100_000) }
        guard process.isRunning else { return true }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return false
    }
}
