import Foundation
import Testing
import TestSupport

/// `validate --check-access`: every source's server and credentials and every backup point tried the way
/// a run reaches them, one line each, nothing written; exit 2 when one fails.
@Suite struct CheckAccessTests {
    @Test func eachSourceAndBackupPointIsTriedAndNothingIsWritten() throws {
        guard let postgres = try TestServer.start("postgresql.py") else { return }
        defer { postgres.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("data/a", "a\n")
        try sandbox.write("wrong-password", "not the password\n")
        #expect(try Sandbox.shell("sqlite3 '\(sandbox.path("app.sqlite3"))' 'CREATE TABLE t(x)'").status == 0)
        let connection = "host: 127.0.0.1, port: \(postgres.port), user: \(postgres.string("user"))"
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                sources:
                  www: {engine: files, path: $ROOT/data}
                  gone: {engine: files, path: $ROOT/nowhere}
                  app: {engine: sqlite, path: $ROOT/app.sqlite3}
                  db: {engine: postgresql, database: postgres, \(connection), password_file: \(postgres.string("password_file"))}
                  typo: {engine: postgresql, database: postgres, \(connection), password_file: $ROOT/wrong-password}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
              far: {engine: archive, url: "sftp://backup@127.0.0.1:1/srv/{name}.tar.gz", retries: 0}
            """)
        let result = try CLI.run(["validate", "-q", "--check-access", "-c", sandbox.config])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        let errors = result.stderr.split(separator: "\n").map(String.init)
        #expect(errors.count == 3, "one line per failure: \(errors)")
        #expect(errors.contains { $0.hasPrefix("polyarchiv: source gone of site: cannot read \(sandbox.path("nowhere"))") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("polyarchiv: source typo of site: ") && $0.contains("password") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("polyarchiv: backup point far for site: ") }, "\(errors)")
        #expect(!result.stderr.contains("not the password"))
        let verbose = try CLI.run(["validate", "--check-access", "-c", sandbox.config])
        for line in ["ok: source www of site: ", "ok: source app of site: ", "ok: source db of site: connected to database postgres as ",
                     "ok: backup point local for site: reached "] {
            #expect(verbose.stdout.contains(line), "\(line): \(verbose.stdout)")
        }
        // Nothing was written: no collect point, no backup directory, no state.
        for path in ["collect", "backups", "state"] { #expect(!FileManager.default.fileExists(atPath: sandbox.path(path)), "\(path)") }
    }
}
