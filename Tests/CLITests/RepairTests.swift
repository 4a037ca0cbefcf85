import Foundation
import Testing
import TestSupport

/// `polyarchiv repair BP`: a damaged metadata document stops every upload to its backup point; repair
/// rebuilds it from what the backup point holds, each backup read back and hashed, and says what it could
/// not vouch for.
@Suite struct RepairTests {
    static func sandbox() throws -> Sandbox { try Sandbox.withDailyBackups(of: ["round one\n", "round two\n", "round three\n"]) }

    @Test func aDamagedDocumentIsRebuiltFromWhatTheBackupPointHolds() throws {
        let sandbox = try Self.sandbox()
        let document = sandbox.path("b/" + Sandbox.document("daily", "site"))
        // One backup damaged behind polyarchiv's back, then the document cut short.
        #expect(try Sandbox.shell("printf 'X' | dd of='\(sandbox.path("b/site-2.tar.gz"))' bs=1 seek=30 conv=notrunc 2>/dev/null").status == 0)
        let text = try String(contentsOfFile: document, encoding: .utf8)
        try String(text.prefix(text.count * 2 / 3)).write(toFile: document, atomically: false, encoding: .utf8)
        try sandbox.write("data/a.txt", "round four\n")
        let stuck = try sandbox.apply()
        #expect(stuck.status == 2, "\(stuck.stdout)")
        #expect(stuck.stdout.contains("is damaged") && stuck.stdout.contains("polyarchiv repair"), "\(stuck.stdout)")

        let repaired = try CLI.run(["repair", "-c", sandbox.config, "--state-dir", sandbox.state, "daily"])
        #expect(repaired.status == 0, "\(repaired.stdout)\(repaired.stderr)")
        #expect(repaired.stdout.contains("kept file://\(sandbox.path("b/site.tar.gz")): read back as recorded"), "\(repaired.stdout)")
        #expect(repaired.stdout.contains("kept file://\(sandbox.path("b/site-3.tar.gz")): read back as recorded"), "\(repaired.stdout)")
        #expect(repaired.stdout.contains("left out file://\(sandbox.path("b/site-2.tar.gz")): it reads back as"), "\(repaired.stdout)")
        #expect(repaired.stdout.contains("with 2 backups"), "\(repaired.stdout)")
        let kept = try FileManager.default.contentsOfDirectory(atPath: sandbox.path("b")).filter { $0.contains(".damaged-") }
        #expect(kept.count == 1, "the damaged document is kept: \(kept)")
        // An independent reader: the document is JSON again, and each digest is the file's.
        let parsed = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: document))) as? [String: Any]
        for backup in parsed?["backups"] as? [[String: Any]] ?? [] {
            let path = String((backup["location"] as? String ?? "").dropFirst("file://".count))
            #expect(try Sandbox.shell("sha256sum < '\(path)'").output.hasPrefix(backup["digest"] as? String ?? "?"), "\(path)")
        }
        let again = try sandbox.apply()
        #expect(again.status == 0, "\(again.stdout)")
        let listed = try CLI.run(["list", "-c", sandbox.config])
        #expect(listed.stdout.contains("site.tar.gz") && listed.stdout.contains("site-3.tar.gz") && !listed.stdout.contains("site-2.tar.gz"),
                "\(listed.stdout)")
        let sound = try CLI.run(["repair", "-c", sandbox.config, "--state-dir", sandbox.state, "daily"])
        #expect(sound.status == 0 && sound.stdout.contains("is sound (3 backups): nothing to repair"), "\(sound.stdout)")
    }

    /// On a fresh machine (no journal), what only the damaged document names is kept, said to be unvouched for.
    @Test func withoutAJournalWhatTheDamagedDocumentNamesIsKeptUnvouched() throws {
        let sandbox = try Self.sandbox()
        let document = sandbox.path("b/" + Sandbox.document("daily", "site"))
        let text = try String(contentsOfFile: document, encoding: .utf8)
        try String(text.dropLast(3)).write(toFile: document, atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: sandbox.state)
        let repaired = try CLI.run(["repair", "-c", sandbox.config, "--state-dir", sandbox.state, "daily"])
        #expect(repaired.status == 0, "\(repaired.stdout)\(repaired.stderr)")
        #expect(repaired.stdout.components(separatedBy: "NOT vouched for").count - 1 == 3, "\(repaired.stdout)")
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("restored/site/www/a.txt"), encoding: .utf8) == "round three\n")
    }
}
