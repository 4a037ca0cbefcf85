import Foundation
import Testing
import TestSupport

/// What the browsing and checking commands do when a backup point is not as its listings say: a listing
/// gone, a backup gone, an entry dated in the future. One missing piece costs only itself, and the answer
/// says what it could not vouch for.
@Suite struct BrowseFallbackTests {
    /// Two backups of `www/a.txt` ("morning", then "evening": the same size), `site.tar.gz` and `site-2.tar.gz`.
    static func twoBackups() throws -> Sandbox {
        let sandbox = try Sandbox.withDailyBackups(of: ["morning\n", "evening\n"])
        #expect(FileManager.default.fileExists(atPath: sandbox.path("b/site.tar.gz.polyarchiv-tree")))
        #expect(FileManager.default.fileExists(atPath: sandbox.path("b/site-2.tar.gz.polyarchiv-tree")))
        return sandbox
    }

    @Test func findReadsABackupWhoseListingIsGoneAndGoesOnWithoutOneThatIsGone() throws {
        let sandbox = try Self.twoBackups()
        try FileManager.default.removeItem(atPath: sandbox.path("b/site.tar.gz.polyarchiv-tree"))
        let found = try CLI.run(["find", "-c", sandbox.config, "a.txt"])
        #expect(found.status == 0, "\(found.stdout)\(found.stderr)")
        #expect(found.stdout.split(separator: "\n").filter { $0.contains("www/a.txt") }.count == 2, "both backups searched: \(found.stdout)")
        #expect(found.stderr.contains("cannot be read") && found.stderr.contains("the backup itself is read instead"), "\(found.stderr)")

        // The older backup itself gone too: the newer one is still searched, and the answer says what was not.
        try FileManager.default.removeItem(atPath: sandbox.path("b/site.tar.gz"))
        let partial = try CLI.run(["find", "-c", sandbox.config, "a.txt"])
        #expect(partial.status == 3, "\(partial.stdout)\(partial.stderr)")
        #expect(partial.stdout.split(separator: "\n").filter { $0.contains("www/a.txt") }.count == 1, "\(partial.stdout)")
        #expect(partial.stderr.contains("polyarchiv: not searched: daily ← site of "), "\(partial.stderr)")
    }

    @Test func diffWithoutListingsComparesContents() throws {
        let sandbox = try Self.twoBackups()
        for name in ["site.tar.gz", "site-2.tar.gz"] { try FileManager.default.removeItem(atPath: sandbox.path("b/\(name).polyarchiv-tree")) }
        let diff = try CLI.run(["diff", "-c", sandbox.config])
        #expect(diff.status == 0, "\(diff.stdout)\(diff.stderr)")
        let line = diff.stdout.split(separator: "\n").first { $0.contains("www/a.txt") } ?? ""
        #expect(line.contains("content"), "a same-size change is a change of content: \(diff.stdout)")
    }

    @Test func checkFromBackupPointsTrustsNeitherAFutureEntryNorAListedBackupThatIsGone() throws {
        let sandbox = try Self.twoBackups()
        let documentPath = sandbox.path("b/" + Sandbox.document("daily", "site"))
        var document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: documentPath))) as? [String: Any])
        var backups = try #require(document["backups"] as? [[String: Any]])
        var forged = try #require(backups.last)
        forged["location"] = "file://" + sandbox.path("b/site-2031.tar.gz")
        forged["created"] = "2031-01-01T00:00:00Z"
        backups.append(forged)
        document["backups"] = backups
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: documentPath))
        let future = try CLI.run(["check", "-c", sandbox.config, "--from-backup-points"])
        #expect(future.status == 1, "\(future.stdout)")
        #expect(future.stdout.contains("WARNING: daily/site: newest backup by \(Sandbox.host) ") && !future.stdout.contains("2031"),
                "the newest that counts is today's: \(future.stdout)")
        #expect(future.stdout.contains("1 dated in the future, not trusted"), "\(future.stdout)")

        // The newest backup deleted behind the document's back.
        try FileManager.default.removeItem(atPath: sandbox.path("b/site-2.tar.gz"))
        let gone = try CLI.run(["check", "-c", sandbox.config, "--from-backup-points"])
        #expect(gone.status == 2, "\(gone.stdout)")
        #expect(gone.stdout.contains("CRITICAL: daily/site: the newest backup by \(Sandbox.host), of ") && gone.stdout.contains("is listed but gone"),
                "\(gone.stdout)")
    }

    /// `one_file_system`: what another file system holds stays out, its mount point stays in (a restore
    /// mounts onto it).
    @Test func oneFileSystemKeepsTheMountPointItself() throws {
        guard runsAsRoot("mounting a tmpfs") else { return }
        let sandbox = try Sandbox()
        try sandbox.write("data/a.txt", "a\n")
        guard try mountTmpfs(at: sandbox.path("data/mnt"), size: "1m") else { return }
        defer { _ = try? Sandbox.shell("umount '\(sandbox.path("data/mnt"))'") }
        try sandbox.write("data/mnt/other.txt", "on another file system\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data, one_file_system: true}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/b/{name}.tar.gz"}
            """)
        let applied = try sandbox.apply()
        #expect(applied.status == 0, "\(applied.stdout)")
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: sandbox.path("restored/site/www/mnt"), isDirectory: &isDirectory) && isDirectory.boolValue,
                "the mount point is restored")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("restored/site/www/mnt/other.txt")))
        #expect(FileManager.default.fileExists(atPath: sandbox.path("restored/site/www/a.txt")))
    }
}
