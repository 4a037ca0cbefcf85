import Foundation
import Testing
import TestSupport

/// The restic backup point, judged by restic itself; restore from restic and from git on a fresh machine.
@Suite(.serialized) struct ResticBackupPointTests {
    @Test func resticBacksUpForgetsChecksAndRestores() throws {
        guard try Sandbox.shell("command -v restic").status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("restic is missing: apt-get install restic") }
            return
        }
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "<h1>one</h1>\n")
        try sandbox.write("data/deep/file.txt", "deep\n")
        // A name that is not UTF-8 (Latin-1, as old uploads and Samba shares hold) comes back as its bytes.
        try Sandbox.shell("python3 -c \"open(b'\(sandbox.path("data"))/caf\\xe9.txt', 'wb').write(b'latin-1 name')\"")
        try sandbox.write("restic-password", "correct horse battery staple")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              vault:
                engine: restic
                repository: $ROOT/repo
                password_file: $ROOT/restic-password
                keep: {last: 2}
                snapshot_tags: [web]
                metadata_url: "file://$ROOT/meta/vault-site.json"
            """)
        let watcher = ProcessWatcher(secrets: ["correct horse battery staple"])
        let first = try sandbox.apply()
        let watched = watcher.stop()
        #expect(first.status == 0, "\(first.stdout)")
        #expect(watched.seen.contains("restic"), "\(watched.seen.sorted())")
        #expect(watched.leaks.isEmpty, "\(watched.leaks)")
        let again = try sandbox.apply(["--force"])
        #expect(again.stdout.contains("cached       upload:vault/site"), "nothing uploaded again: \(again.stdout)")
        for text in ["two", "three"] {
            try sandbox.write("data/index.html", "<h1>\(text)</h1>\n")
            #expect(try sandbox.apply(["--force"]).status == 0)
        }
        let restic = "RESTIC_PASSWORD_FILE='\(sandbox.path("restic-password"))' restic -r '\(sandbox.path("repo"))'"
        let snapshots = try Sandbox.shell("\(restic) snapshots --json")
        let list = try JSONSerialization.jsonObject(with: Data(snapshots.output.utf8)) as? [[String: Any]] ?? []
        #expect(list.count == 2, "keep last 2: \(snapshots.output)")
        #expect(list.allSatisfy { ($0["tags"] as? [String] ?? []).contains("polyarchiv:site") && ($0["tags"] as? [String] ?? []).contains("web") })
        #expect(try Sandbox.shell("\(restic) check 2>&1").status == 0)
        // The metadata document lists the two snapshots restic kept.
        let document = try String(contentsOfFile: sandbox.path("meta/vault-site.json"), encoding: .utf8)
        let ids = list.compactMap { $0["id"] as? String }
        #expect(document.components(separatedBy: "\"location\"").count == 3 && ids.allSatisfy { document.contains("restic:" + $0.prefix(8)) }, "\(document)")
        // A fresh machine: list and restore from the repository.
        try FileManager.default.removeItem(atPath: sandbox.state)
        try FileManager.default.removeItem(atPath: sandbox.path("collect"))
        let listed = try CLI.run(["list", "-c", sandbox.config])
        #expect(listed.stdout.components(separatedBy: "restic:").count == 3, "\(listed.stdout)")
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(sandbox.path("restored/site/www"))'").status == 0)
        // A wrong password: one clear line.
        try sandbox.write("restic-password", "wrong")
        try sandbox.write("data/index.html", "<h1>four</h1>\n")
        let wrong = try sandbox.apply(["--force"])
        #expect(wrong.status == 2)
        #expect(wrong.stdout.contains("wrong password"), "\(wrong.stdout)")
    }

    /// Three collect points into one new repository, with the default jobs: one `restic init`, one key, and
    /// every later run works (`restic check` judges the repository).
    @Test func collectPointsSharingANewRepositoryInitializeItOnce() throws {
        guard try Sandbox.shell("command -v restic").status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("restic is missing: apt-get install restic") }
            return
        }
        let sandbox = try Sandbox()
        try sandbox.write("restic-password", "correct horse battery staple")
        var points = ""
        for name in ["one", "two", "three"] {
            try sandbox.write("\(name)/file.txt", "\(name)\n")
            points += "  \(name): {engine: files, path: $ROOT/c-\(name), sources: {www: {engine: files, path: $ROOT/\(name)}}}\n"
        }
        try sandbox.configure("collect_points:\n" + points + """
            backup_points:
              vault: {engine: restic, repository: $ROOT/repo, password_file: $ROOT/restic-password}
            """)
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)")
        let keys = try Sandbox.shell("RESTIC_PASSWORD_FILE='\(sandbox.path("restic-password"))' restic -r '\(sandbox.path("repo"))' key list --json")
        #expect(keys.status == 0 && keys.output.components(separatedBy: "\"id\"").count - 1 == 1, "one key: \(keys.output)")
        try sandbox.write("two/file.txt", "changed\n")
        let second = try sandbox.apply()
        #expect(second.status == 0, "\(second.stdout)")
        #expect(try Sandbox.shell("RESTIC_PASSWORD_FILE='\(sandbox.path("restic-password"))' restic -r '\(sandbox.path("repo"))' check").status == 0)
    }

    @Test func gitBackupsAreListedAndRestoredOnAFreshMachine() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "<h1>one</h1>\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              remote: {engine: git, url: "file://$ROOT/remote.git"}
            """)
        #expect(try sandbox.apply().status == 0)
        sleep(1)
        try sandbox.write("data/index.html", "<h1>two</h1>\n")
        #expect(try sandbox.apply(["--force"]).status == 0)
        try FileManager.default.removeItem(atPath: sandbox.state)
        try FileManager.default.removeItem(atPath: sandbox.path("collect"))
        let listed = try CLI.run(["list", "-c", sandbox.config])
        #expect(listed.stdout.components(separatedBy: "remote.git#").count == 3, "\(listed.stdout)")
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("restored/site/www/index.html"), encoding: .utf8) == "<h1>two</h1>\n")
    }
}
