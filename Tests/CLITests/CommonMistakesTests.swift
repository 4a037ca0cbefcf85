import Foundation
import Testing
import TestSupport

/// The mistakes a new user makes first each get one line that says what is wrong and what to do.
@Suite struct CommonMistakesTests {
    @Test func aTabInTheYAMLIsNamed() throws {
        let sandbox = try Sandbox()
        try sandbox.configure("collect_points:\n  www:\n\tengine: files\n")
        let result = try CLI.run(["validate", "-c", sandbox.config])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(sandbox.config):3:1: error: a tab indents line 3: YAML indents with spaces only"), "\(result.stderr)")
    }

    @Test func aMissingSourcePathSaysWhatToCheck() throws {
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              app: {engine: files, path: $ROOT/c, sources: {www: {engine: files, path: $ROOT/not-mounted}}}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 2)
        #expect(run.stdout.contains("cannot open the directory \(sandbox.path("not-mounted")): No such file or directory; "
                                    + "check the `path` in the configuration"), "\(run.stdout)")
    }

    /// An SSH server whose key is not known: which host, which file, and the two ways to fix it; a pinned
    /// fingerprint that does not match says so.
    @Test func anUnknownSSHHostKeySaysWhichHostAndHowToAddIt() throws {
        guard let server = try TestServer.start("sshd.py") else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("data/a", "a\n")
        try sandbox.write("empty_known_hosts", "")
        func configure(_ check: String) throws {
            try sandbox.configure("""
                collect_points:
                  app: {engine: files, path: $ROOT/c, sources: {www: {engine: files, path: $ROOT/data}}}
                backup_points:
                  far: {engine: archive, url: "sftp://root@127.0.0.1:\(server.port)$ROOT/remote/{name}.tar.gz", retries: 0,
                        private_key: \(server.string("private_key")), \(check)}
                """)
        }
        try configure("known_hosts: $ROOT/empty_known_hosts")
        let unknown = try sandbox.apply()
        #expect(unknown.status == 2)
        #expect(unknown.stdout.contains("the SSH host key of 127.0.0.1:\(server.port) is not in \(sandbox.path("empty_known_hosts"))"),
                "\(unknown.stdout)")
        #expect(unknown.stdout.contains("`ssh-keyscan -p \(server.port) 127.0.0.1 >> \(sandbox.path("empty_known_hosts"))`"), "\(unknown.stdout)")
        // The advice works: the key it fetches is accepted.
        #expect(try Sandbox.shell("ssh-keyscan -p \(server.port) 127.0.0.1 >> '\(sandbox.path("empty_known_hosts"))' 2>/dev/null").status == 0)
        #expect(try sandbox.apply().status == 0)

        try configure("host_key_sha256: \"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"")
        let pinned = try sandbox.apply(["--force"])
        #expect(pinned.status == 2)
        #expect(pinned.stdout.contains("does not match host_key_sha256"), "\(pinned.stdout)")
    }

    @Test func aServerThatDoesNotAnswerAndAWrongPasswordAreNamed() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/a", "a\n")
        try sandbox.configure("""
            collect_points:
              app: {engine: files, path: $ROOT/c, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              far: {engine: archive, url: "ftp://127.0.0.1:1/backups/{name}.tar.gz", retries: 0, username: u, password: p}
            """)
        let closed = try sandbox.apply()
        #expect(closed.status == 2)
        #expect(closed.stdout.contains("nothing accepts connections at 127.0.0.1:1; check that the server runs, the port in the URL"),
                "\(closed.stdout)")

        guard let server = try TestServer.start("ftp.py") else { return }
        defer { server.stop() }
        try sandbox.configure("""
            collect_points:
              app: {engine: files, path: $ROOT/c, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              far: {engine: archive, url: "ftp://127.0.0.1:\(server.port)/backups/{name}.tar.gz", retries: 0,
                    username: \(server.string("user")), password: "not-the-password"}
            """)
        let refused = try sandbox.apply()
        #expect(refused.status == 2)
        #expect(refused.stdout.contains("127.0.0.1:\(server.port) refused the login; check username and the password"), "\(refused.stdout)")
        #expect(!refused.stdout.contains("not-the-password"))
    }

    /// `validate --check-access` tries what pg_dump needs, not only a connection: a role that cannot read a
    /// table is named with the table and the grant to give.
    @Test func checkAccessFindsWhatAPostgreSQLRoleCannotRead() throws {
        guard let postgres = try TestServer.start("postgresql.py") else { return }
        defer { postgres.stop() }
        let sandbox = try Sandbox()
        _ = try postgres.value("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
        _ = try postgres.value("CREATE DATABASE shop")
        _ = try CLI.succeed("\(try postgres.psql()) -d shop -c 'CREATE TABLE orders(id serial); CREATE TABLE secrets(x text); "
                            + "GRANT SELECT ON orders TO reader'")
        try sandbox.write("reader.pw", "reader-pw")
        try sandbox.configure("""
            collect_points:
              app:
                engine: files
                path: $ROOT/c
                sources:
                  shop: {engine: postgresql, database: shop, host: 127.0.0.1, port: \(postgres.port), user: reader, password_file: $ROOT/reader.pw}
                  all: {engine: postgresql, host: 127.0.0.1, port: \(postgres.port), user: reader, password_file: $ROOT/reader.pw}
            """)
        let result = try CLI.run(["validate", "-q", "--check-access", "-c", sandbox.config])
        #expect(result.status == 2)
        #expect(result.stderr.contains("source shop of app: role reader cannot read 2 relation(s) of database shop that pg_dump reads: "
                                       + "public.orders_id_seq, public.secrets; grant it"), "\(result.stderr)")
        #expect(result.stderr.contains("source all of app: role reader is not a superuser"), "\(result.stderr)")
        _ = try CLI.succeed("\(try postgres.psql()) -d shop -c 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader; "
                            + "GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO reader'")
        let granted = try CLI.run(["validate", "--check-access", "-c", sandbox.config])
        #expect(granted.stdout.contains("ok: source shop of app: connected to database shop as reader, who can read all it holds"),
                "\(granted.stdout)\(granted.stderr)")
        // What check-access promised holds: the dump runs.
        try sandbox.configure(try String(contentsOfFile: sandbox.config, encoding: .utf8)
            .replacingOccurrences(of: "\n      all: {engine: postgresql, host: 127.0.0.1, port: \(postgres.port), user: reader, password_file: \(sandbox.path("reader.pw"))}", with: ""))
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
    }
}
