import Foundation
import Testing
import TestSupport

/// The encrypt filter end to end: on a collect point and on a backup point, judged by `age -d`,
/// restored on a fresh machine, and with no clear text left behind.
@Suite(.serialized) struct EncryptTests {
    static let tools = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tools").path
    static let marker = "CLEAR-TEXT-MARKER-7f3a"

    func ageAvailable() throws -> Bool {
        if try Sandbox.shell("command -v age && command -v age-keygen").status == 0 { return true }
        if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("the age program is missing: apt-get install age") }
        print("skipped: the age program is missing (apt-get install age)")
        return false
    }

    /// Data with a recognisable marker, a subdirectory, an executable file and a SQLite dump.
    func makeData(_ sandbox: Sandbox) throws {
        try sandbox.write("data/www/index.html", "<h1>\(Self.marker)</h1>\n")
        try sandbox.write("data/www/deep/notes.txt", String(repeating: "\(Self.marker) line\n", count: 10_000))
        try sandbox.write("data/www/run.sh", "#!/bin/sh\necho \(Self.marker)\n")
        chmod(sandbox.path("data/www/run.sh"), 0o750)
    }

    func keys(_ sandbox: Sandbox) throws -> String {
        try Sandbox.shell("age-keygen -o '\(sandbox.path("key.txt"))' 2>/dev/null")
        return try Sandbox.shell("age-keygen -y '\(sandbox.path("key.txt"))'").output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Files under `path` whose bytes contain the marker.
    func clearTextFiles(under path: String) throws -> [String] {
        let found = try Sandbox.shell("grep -rl '\(Self.marker)' '\(path)' 2>/dev/null")
        return found.output.split(separator: "\n").map(String.init)
    }

    @Test func anEncryptedCollectPointHoldsOnlyCiphertextAndRestoresWithTheIdentity() throws {
        guard try ageAvailable() else { return }
        let sandbox = try Sandbox()
        try makeData(sandbox)
        let recipient = try keys(sandbox)
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                sources: {www: {engine: files, path: $ROOT/data/www}}
                filters:
                  - {engine: hashes}
                  - {engine: encrypt, recipients: [\(recipient)]}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.zst"}
            """)
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)")
        // The collect point, the store and the backup hold no clear text.
        #expect(try clearTextFiles(under: sandbox.path("collect")).isEmpty)
        #expect(try clearTextFiles(under: sandbox.state).isEmpty)
        #expect(FileManager.default.fileExists(atPath: sandbox.path("collect/www/index.html.age")))
        #expect(FileManager.default.fileExists(atPath: sandbox.path("collect/SHA256SUMS.age")))
        // age opens what we wrote.
        let opened = try Sandbox.shell("age -d -i '\(sandbox.path("key.txt"))' '\(sandbox.path("collect/www/index.html.age"))'")
        #expect(opened.output == "<h1>\(Self.marker)</h1>\n")
        // Unchanged data: the same ciphertext, nothing downstream runs again.
        let before = try Sandbox.shell("sha256sum '\(sandbox.path("collect/www/deep/notes.txt.age"))'").output
        let again = try sandbox.apply(["--force"])
        #expect(again.status == 0)
        #expect(again.stdout.contains("cached       filter:site/encrypt"), "\(again.stdout)")
        #expect(again.stdout.contains("cached       upload:local/site"), "nothing is uploaded again:\n\(again.stdout)")
        #expect(try Sandbox.shell("sha256sum '\(sandbox.path("collect/www/deep/notes.txt.age"))'").output == before)
        #expect(try clearTextFiles(under: sandbox.state).isEmpty)
        // One file changed: only it is encrypted anew; the others keep their ciphertext.
        try sandbox.write("data/www/index.html", "<h1>\(Self.marker) two</h1>\n")
        #expect(try sandbox.apply(["--force"]).status == 0)
        #expect(try Sandbox.shell("sha256sum '\(sandbox.path("collect/www/deep/notes.txt.age"))'").output == before)
        #expect(try clearTextFiles(under: sandbox.state).isEmpty)

        // A fresh machine without the identity in the configuration: one clear line, nothing written.
        try FileManager.default.removeItem(atPath: sandbox.state)
        let refused = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("--identity"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("restored/site")))
        // With a wrong identity: refused too.
        try Sandbox.shell("age-keygen -o '\(sandbox.path("other.txt"))' 2>/dev/null")
        let wrong = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored"),
                                              "--identity", sandbox.path("other.txt")])
        #expect(wrong.status == 2)
        #expect(wrong.stderr.contains("no identity opens"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("restored/site")))
        // With it: the data back, modes included, and the hashes index checked after decryption.
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored"),
                                                 "--identity", sandbox.path("key.txt")])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(restored.stdout.contains("verified SHA256SUMS"))
        #expect(try Sandbox.shell("diff -r '\(sandbox.path("data/www"))' '\(sandbox.path("restored/site/www"))'").status == 0)
        #expect(try Sandbox.shell("find '\(sandbox.path("restored"))' -name '*.age' -o -name '.*polyarchiv*'").output.isEmpty)
        let mode = try Sandbox.shell("stat -c %a '\(sandbox.path("restored/site/www/run.sh"))'").output
        #expect(mode.trimmingCharacters(in: .whitespacesAndNewlines) == "750")
    }

    @Test func aBackupPointEncryptsTheArchiveWithAPassphrase() throws {
        guard try ageAvailable() else { return }
        let sandbox = try Sandbox()
        try makeData(sandbox)
        try sandbox.write("passphrase", "a long passphrase\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data/www}}}
            backup_points:
              offsite:
                engine: archive
                url: "file://$ROOT/offsite/{name}.tar.gz"
                filters: [{engine: encrypt, passphrase_file: $ROOT/passphrase, work_factor: 12}]
              mirror:
                engine: archive
                url: "file://$ROOT/mirror/{name}.tar.gz"
                filters: [{engine: encrypt, passphrase_file: $ROOT/passphrase, work_factor: 12}]
            """)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        let offsite = sandbox.path("offsite/site.tar.gz.age")
        #expect(FileManager.default.fileExists(atPath: offsite))
        #expect(try clearTextFiles(under: sandbox.path("offsite")).isEmpty)
        // Same filter settings on the same archive: one encryption, two identical uploads.
        let filterStages = run.stdout.split(separator: "\n").filter { $0.hasPrefix("done") && $0.contains("filter:") }
        #expect(filterStages.count == 1, "\(run.stdout)")
        #expect(try Sandbox.shell("cmp '\(offsite)' '\(sandbox.path("mirror/site.tar.gz.age"))'").status == 0)
        // age opens it with the passphrase, and tar reads what comes out.
        let opened = try Sandbox.shell("python3 '\(Self.tools)/age_with_passphrase.py' 'a long passphrase' -d -o '\(sandbox.path("clear.tar.gz"))' '\(offsite)'"
                                       + " && tar -tzf '\(sandbox.path("clear.tar.gz"))'")
        #expect(opened.status == 0, "\(opened.output)")
        #expect(opened.output.contains("www/deep/notes.txt"))
        // Restore on a fresh machine, from the encrypted backup point.
        try FileManager.default.removeItem(atPath: sandbox.state)
        try FileManager.default.removeItem(atPath: sandbox.path("collect"))
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--from", "offsite", "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try Sandbox.shell("diff -r '\(sandbox.path("data/www"))' '\(sandbox.path("restored/site/www"))'").status == 0)
        #expect(try Sandbox.shell("ls -A '\(sandbox.path("restored"))'").output == "site\n", "no scratch file left")
        // A wrong passphrase: one clear line, nothing restored.
        try sandbox.write("passphrase", "not the passphrase\n")
        let wrong = try CLI.run(["restore", "-c", sandbox.config, "--from", "offsite", "--target", sandbox.path("again")])
        #expect(wrong.status == 2)
        #expect(wrong.stderr.contains("wrong passphrase"), "\(wrong.stderr)")
        #expect(try Sandbox.shell("ls -A '\(sandbox.path("again"))' 2>/dev/null").output.isEmpty)
    }
}
