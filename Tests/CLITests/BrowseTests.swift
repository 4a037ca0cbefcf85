import Foundation
import Testing
import TestSupport

/// `ls`, `find` and `diff` read what backups hold from the backup points: an archive's listing beside
/// it (the archive itself is not downloaded), restic's own listing, a git or mirror backup fetched; an
/// encrypted archive keeps no listing in clear and opens with --identity. Retention removes a listing
/// with its archive.
@Suite struct BrowseTests {
    @Test func lsFindAndDiffAcrossKindsOfBackupPoints() throws {
        let hasRestic = try Sandbox.shell("command -v restic").status == 0
        if !hasRestic && ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("restic is missing: apt-get install restic") }
        let sandbox = try Sandbox()
        let (identity, recipient) = try CLI.ageKeys()
        try sandbox.write("identity.txt", identity)
        try sandbox.write("data/index.html", "<h1>one</h1>\n")
        try sandbox.write("data/old.txt", "old\n")
        try sandbox.write("data/img/logo.png", "png\n")
        try sandbox.write("restic-password", "correct horse battery staple")
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                sources: {www: {engine: files, path: $ROOT/data}}
                filters: [{engine: hashes, method: sha256}]
            backup_points:
              dated: {engine: rolling_archive, url: "file://$ROOT/dated/{name}-{Y}{m}{d}{H}{M}{S}.tar.zst", keep: {last: 5}, verify: false}
              short: {engine: rolling_archive, url: "file://$ROOT/short/{name}-{Y}{m}{d}{H}{M}{S}.tar.gz", keep: {last: 1}, verify: false}
              sealed:
                engine: archive
                url: "file://$ROOT/sealed/{name}.tar.gz"
                verify: false
                filters: [{engine: encrypt, recipients: [\(recipient)]}]
              history: {engine: git, url: "file://$ROOT/remote/{name}.git", verify: false}
              mirror: {engine: synchronize, url: "file://$ROOT/mirror/{name}", verify: false}
            """ + (hasRestic ? """

              vault: {engine: restic, repository: $ROOT/repo, password_file: $ROOT/restic-password, verify: false}
            """ : ""))
        #expect(try sandbox.apply().status == 0)
        Thread.sleep(forTimeInterval: 1.1)
        let between = ISO8601DateFormatter().string(from: Date())
        Thread.sleep(forTimeInterval: 1.1)
        try sandbox.write("data/index.html", "<h1>two, longer</h1>\n")
        try sandbox.write("data/new.txt", "new\n")
        try FileManager.default.removeItem(atPath: sandbox.path("data/old.txt"))
        let second = try sandbox.apply()
        #expect(second.status == 0, "\(second.stdout)")
        // Retention took the older archive of `short` and its listing with it.
        let short = try FileManager.default.contentsOfDirectory(atPath: sandbox.path("short")).filter { !$0.hasSuffix(".json") }
        #expect(short.count == 2 && short.contains { $0.hasSuffix(".tar.gz.polyarchiv-tree") }, "\(short)")
        // The listings are enough: the archives of `dated` are gone, ls/find/diff still answer.
        for name in try FileManager.default.contentsOfDirectory(atPath: sandbox.path("dated")) where name.hasSuffix(".tar.zst") {
            try FileManager.default.removeItem(atPath: sandbox.path("dated/" + name))
        }
        let ls = try CLI.run(["ls", "-c", sandbox.config, "--from", "dated", "www"])
        #expect(ls.status == 0, "\(ls.stderr)")
        #expect(ls.stdout.contains("www/new.txt") && ls.stdout.contains("www/img/logo.png") && !ls.stdout.contains("old.txt"), "\(ls.stdout)")
        let older = try CLI.run(["ls", "-c", sandbox.config, "--from", "dated", "--at", between, "--json"])
        let listing = try CLI.jsonLines(older.stdout)
        #expect(listing.first?["type"] as? String == "backup" && listing.dropFirst().allSatisfy { $0["type"] as? String == "entry" })
        let paths = listing.compactMap { $0["path"] as? String }
        #expect(paths.contains("www/old.txt") && !paths.contains("www/new.txt"), "\(older.stdout)\(older.stderr)")
        let found = try CLI.run(["find", "-c", sandbox.config, "--from", "dated", "*.png", "--json"])
        let hits = try CLI.jsonLines(found.stdout)
        #expect(hits.count == 2, "both backups hold the logo: \(found.stdout)\(found.stderr)")
        let created = hits.compactMap { ($0["backup"] as? [String: Any])?["created"] as? String }
        #expect(created == created.sorted(by: >), "newest first: \(created)")
        let diff = try CLI.run(["diff", "-c", sandbox.config, "--from", "dated"])
        #expect(diff.status == 0, "\(diff.stderr)")
        for line in ["+ www/new.txt", "- www/old.txt", "M www/index.html  (size, content"] {
            #expect(diff.stdout.contains(line), "\(line): \(diff.stdout)")
        }
        #expect(!diff.stdout.contains("www/img/logo.png"), "\(diff.stdout)")
        // The kinds without a listing beside them are fetched; restic lists its snapshot itself.
        for point in ["history", "mirror"] + (hasRestic ? ["vault"] : []) {
            let result = try CLI.run(["ls", "-c", sandbox.config, "--from", point])
            #expect(result.status == 0, "\(point): \(result.stderr)")
            #expect(result.stdout.contains("www/new.txt") && result.stdout.contains("www/img/logo.png"), "\(point): \(result.stdout)")
        }
        // No listing in clear beside an encrypted archive: it opens with the identity only.
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("sealed/site.tar.gz.age.polyarchiv-tree")))
        let sealed = try CLI.run(["ls", "-c", sandbox.config, "--from", "sealed"])
        #expect(sealed.status == 1)
        #expect(sealed.stderr.contains("encrypted") && sealed.stderr.contains("--identity"), "\(sealed.stderr)")
        let opened = try CLI.run(["ls", "-c", sandbox.config, "--from", "sealed", "--identity", sandbox.path("identity.txt")])
        #expect(opened.status == 0 && opened.stdout.contains("www/new.txt"), "\(opened.stdout)\(opened.stderr)")
        let nothing = try CLI.run(["find", "-c", sandbox.config, "--from", "dated", "*.jpg"])
        #expect(nothing.status == 1 && nothing.stdout.contains("no backup holds a path matching *.jpg"), "\(nothing.stdout)")
    }
}
