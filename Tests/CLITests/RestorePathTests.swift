import Foundation
import Testing
import TestSupport

/// `restore --path GLOB…` brings back only the matching paths, from every kind of backup point, after the
/// whole backup was checked; a pattern that matches nothing restores nothing.
@Suite struct RestorePathTests {
    @Test func onlyTheMatchingPathsComeBackFromEveryKindOfBackupPoint() throws {
        let hasRestic = try Sandbox.shell("command -v restic").status == 0
        if !hasRestic && ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("restic is missing: apt-get install restic") }
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "<h1>home</h1>\n")
        try sandbox.write("data/img/logo.png", "png\n")
        try sandbox.write("data/img/icons/a.png", "a\n")
        try sandbox.write("data/etc/app.conf", "x = 1\n")
        try sandbox.write("data/etc/deep/db.conf", "y = 2\n")
        try sandbox.write("data/etc/readme.txt", "no\n")
        try sandbox.write("restic-password", "correct horse battery staple")
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                sources: {www: {engine: files, path: $ROOT/data}}
                filters: [{engine: hashes}]
            backup_points:
              tarball: {engine: archive, url: "file://$ROOT/backups/{name}.tar.zst"}
              history: {engine: git, url: "file://$ROOT/remote/{name}.git"}
              mirror: {engine: synchronize, url: "file://$ROOT/mirror/{name}"}
            """ + (hasRestic ? """

              vault: {engine: restic, repository: $ROOT/repo, password_file: $ROOT/restic-password}
            """ : ""))
        let applied = try sandbox.apply()
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        for point in ["tarball", "history", "mirror"] + (hasRestic ? ["vault"] : []) {
            let target = sandbox.path("r-\(point)")
            let restored = try CLI.run(["restore", "-c", sandbox.config, "--from", point, "--target", target,
                                        "--path", "www/img/", "--path", "*.conf"])
            #expect(restored.status == 0, "\(point): \(restored.stderr)")
            let files = try Sandbox.shell("cd '\(target)/site' && find . -type f | sort").output
            #expect(files == "./www/etc/app.conf\n./www/etc/deep/db.conf\n./www/img/icons/a.png\n./www/img/logo.png\n", "\(point): \(files)")
            #expect(try String(contentsOfFile: target + "/site/www/etc/deep/db.conf", encoding: .utf8) == "y = 2\n")
        }
        // Nothing matches: one line, exit 2, nothing under the final name.
        let none = try CLI.run(["restore", "-c", sandbox.config, "--from", "tarball", "--target", sandbox.path("none"), "--path", "*.jpg"])
        #expect(none.status == 2)
        #expect(none.stderr.contains("no path of the backup matches `*.jpg`"), "\(none.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("none/site")))
        // A partial tree never replaces live data.
        let inPlace = try CLI.run(["restore", "-c", sandbox.config, "--in-place", "--yes", "--path", "*.conf"])
        #expect(inPlace.status == 64, "\(inPlace.stderr)")
    }
}
