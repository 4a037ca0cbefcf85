import Foundation
import Testing
import TestSupport

/// An upgrade keeps everything: the state that polyarchiv at 1d4f148 (journal schema v1–v4, the oldest in
/// the field) left after three nightly runs — `Tests/Fixtures/upgrade-1d4f148`, made by its `make.sh` with
/// that version — is read and carried on by this one. Its records are records, not caches.
@Suite(.serialized) struct UpgradeTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/upgrade-1d4f148/upgrade-1d4f148.tar.gz").path
    /// Where the old version ran: its journal records absolute locations.
    static let root = "/tmp/polyarchiv-upgrade-fixture"

    @Test func theStateOfTheOldestVersionInTheFieldIsCarriedOn() throws {
        _ = try Sandbox.shell("rm -rf '\(Self.root)'")
        try FileManager.default.createDirectory(atPath: Self.root, withIntermediateDirectories: true)
        defer { _ = try? Sandbox.shell("rm -rf '\(Self.root)'") }
        #expect(try Sandbox.shell("tar -C '\(Self.root)' -xzf '\(Self.fixture)'").status == 0)
        let config = Self.root + "/config.yaml", state = Self.root + "/state"
        let archives = { (try FileManager.default.contentsOfDirectory(atPath: Self.root + "/rolling")).filter { $0.hasSuffix(".tar.gz") }.sorted() }
        let before = try archives()
        #expect(before.count == 2, "\(before)")
        let ciphertext = try Sandbox.shell("sha256sum < '\(Self.root)/collect/www/index.html.age'").output

        // Monitoring right after the upgrade, before any apply: the points ran, three times each.
        let check = try CLI.run(["check", "-c", config, "--state-dir", state])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(!check.stdout.contains("never ran"), "\(check.stdout)")

        try "round 4\n".write(toFile: Self.root + "/data/round.txt", atomically: false, encoding: .utf8)
        let applied = try CLI.run(["apply", "-c", config, "--state-dir", state])
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        // The git backup point goes on with its history (a new, unrelated one would be refused by the remote).
        #expect(applied.stdout.contains("succeeded    upload:history/site"), "\(applied.stdout)")
        #expect(try Sandbox.shell("git -C '\(Self.root)/remote/site.git' rev-list --count main").output == "4\n")
        #expect(try Sandbox.shell("git -C '\(Self.root)/remote/site.git' fsck --full 2>&1").status == 0)
        // Retention knows the backups made before the upgrade as this host's: the oldest goes.
        let after = try archives()
        #expect(after.count == 2 && !after.contains(before[0]) && after.contains(before[1]), "\(before) → \(after)")
        #expect(!applied.stdout.contains("not made by this host"), "\(applied.stdout)")
        // An unchanged file keeps its ciphertext: it is not encrypted (nor sent) again.
        #expect(try Sandbox.shell("sha256sum < '\(Self.root)/collect/www/index.html.age'").output == ciphertext)
        let counts = try Sandbox.shell("sqlite3 '\(state)/journal.sqlite' \"SELECT CAST(value AS TEXT) FROM engine_state "
                                       + "WHERE namespace = 'points' AND key = 'rolling/site'\"").output
        #expect(counts.contains("\"successes\":4"), "the count goes on from the old journal's: \(counts)")
    }
}
