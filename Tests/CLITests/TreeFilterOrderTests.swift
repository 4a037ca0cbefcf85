import Foundation
import Testing
import TestSupport

/// A backup point that ships the tree (git, a mirror) and encrypts it, for a collect point whose hashes
/// index covers the clear files: restore, verify and ls undo the backup point's encryption first, then
/// check the collect point's index.
@Suite struct TreeFilterOrderTests {
    @Test func aBackupPointsFiltersAreUndoneBeforeTheCollectPoints() throws {
        let sandbox = try Sandbox()
        let (identity, recipient) = try CLI.ageKeys()
        try sandbox.write("identity.txt", identity)
        try sandbox.write("data/index.html", "<h1>clear</h1>\n")
        try sandbox.write("data/sub/file.txt", "deeper\n")
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                sources: {www: {engine: files, path: $ROOT/data}}
                filters: [{engine: hashes}]
            backup_points:
              history:
                engine: git
                url: "file://$ROOT/remote/{name}.git"
                filters: [{engine: encrypt, recipients: [\(recipient)], identity_file: $ROOT/identity.txt}]
              mirror:
                engine: synchronize
                url: "file://$ROOT/mirror/{name}"
                filters: [{engine: encrypt, recipients: [\(recipient)], identity_file: $ROOT/identity.txt}]
            """)
        let applied = try sandbox.apply()
        #expect(applied.status == 0, "\(applied.stdout)")
        #expect(applied.stdout.contains("succeeded    verify:history/site") && applied.stdout.contains("succeeded    verify:mirror/site"),
                "\(applied.stdout)")
        try FileManager.default.removeItem(atPath: sandbox.state)
        for point in ["history", "mirror"] {
            let target = sandbox.path("r-\(point)")
            let restored = try CLI.run(["restore", "-c", sandbox.config, "--from", point, "--target", target])
            #expect(restored.status == 0, "\(point): \(restored.stderr)")
            #expect(restored.stdout.contains("verified SHA256SUMS"), "\(point): \(restored.stdout)")
            #expect(try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(target)/site/www'").status == 0, "\(point)")
            let ls = try CLI.run(["ls", "-c", sandbox.config, "--from", point])
            #expect(ls.status == 0 && ls.stdout.contains("www/sub/file.txt"), "\(point): \(ls.stdout)\(ls.stderr)")
        }
    }
}
