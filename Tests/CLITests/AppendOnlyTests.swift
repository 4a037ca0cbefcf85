import Foundation
import Testing
import TestSupport

/// `delete: never`: a host whose WebDAV account may not delete backs up night after night, deletes nothing,
/// and says what retention would delete; `polyarchiv prune`, run from another configuration with an account
/// that may delete, deletes exactly what `plan` announced.
@Suite(.serialized) struct AppendOnlyTests {
    @Test func aHostThatOnlyAddsAndAPruneElsewhere() throws {
        guard let server = try TestServer.start("webdav.py", options: ["--append-only"]) else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        func yaml(user: String, passwordFile: String) -> String {
            """
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              dav:
                engine: rolling_archive
                url: "\(server.string("url"))backups/{name}-{hostname}-{Y}{m}{d}{H}{M}{S}.tar.gz"
                username: \(user)
                password_file: \(passwordFile)
                keep: {last: 1}
                delete: never
                verify: false
            """
        }
        try sandbox.configure(yaml(user: server.string("user"), passwordFile: server.string("password_file")))
        // The host's account cannot delete (the server says so).
        let password = try String(contentsOfFile: server.string("password_file"), encoding: .utf8)
        try sandbox.write("data/a.txt", "0\n")
        #expect(try sandbox.apply().status == 0)
        let directory = server.string("root") + "/backups"
        let first = try #require(try FileManager.default.contentsOfDirectory(atPath: directory).first { $0.hasSuffix(".tar.gz") })
        let refused = try Sandbox.shell("curl -s -o /dev/null -w '%{http_code}' -u 'backup:\(password)' -X DELETE '\(server.string("url"))backups/\(first)'")
        #expect(refused.output == "403", "the backup account may not delete: \(refused.output)")
        var output = ""
        for night in 1...2 {
            sleep(1)
            try sandbox.write("data/a.txt", "\(night)\n")
            let run = try sandbox.apply()
            #expect(run.status == 0, "night \(night): \(run.stdout)")
            output = run.stdout
        }
        #expect(output.contains("delete: never: retention would delete 2 backup(s)"), "\(output)")
        let archives = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".tar.gz") }.sorted()
        #expect(archives.count == 3, "nothing deleted: \(archives)")
        // plan announces the two older ones.
        let plan = try sandbox.run("plan", ["--force"])
        let announced = plan.stdout.split(separator: "\n").filter { $0.contains("(delete: never: for polyarchiv prune)") }
            .compactMap { line -> String? in
                guard let url = line.split(separator: " ").first(where: { $0.hasPrefix("http") }) else { return nil }
                return url.split(separator: "/").last.map(String.init)
            }.sorted()
        // (The plan counts the next run's backup: after it, all three would have expired.)
        #expect(announced == archives, "\(plan.stdout)")
        // What the last run announced: the two older ones.
        let warning = try #require(output.split(separator: "\n").first { $0.contains("retention would delete") })
        let announcedByRun = warning.components(separatedBy: "allowed: ").last!.components(separatedBy: ", ")
            .compactMap { $0.split(separator: "/").last.map(String.init) }.sorted()
        #expect(announcedByRun == Array(archives.prefix(2)), "\(warning)")

        // Elsewhere: the same backup point with an account that may delete, no journal of the host.
        let admin = try TemporaryDirectory()
        let adminConfig = admin.path("prune.yaml")
        try yaml(user: "admin", passwordFile: server.string("admin_password_file")).replacingOccurrences(of: "$ROOT", with: sandbox.root.path)
            .write(toFile: adminConfig, atomically: false, encoding: .utf8)
        let preview = try CLI.run(["prune", "-c", adminConfig, "--state-dir", admin.path("state"), "--host", Sandbox.host, "--dry-run", "dav"])
        #expect(preview.status == 0 && preview.stdout.components(separatedBy: "would delete ").count == 3, "\(preview.stdout)\(preview.stderr)")
        let pruned = try CLI.run(["prune", "-c", adminConfig, "--state-dir", admin.path("state"), "--host", Sandbox.host, "dav"])
        #expect(pruned.status == 0, "\(pruned.stdout)\(pruned.stderr)")
        let deleted = pruned.stdout.split(separator: "\n").filter { $0.contains("deleted ") }
            .compactMap { $0.split(separator: "/").last.map(String.init) }.sorted()
        #expect(deleted == announcedByRun, "exactly what the run announced: \(pruned.stdout)")
        let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".tar.gz") }
        #expect(left == [archives.last!], "\(left)")
        // The host goes on: its next run works against the pruned document and deletes nothing. (Whether it uploads
        // again depends on whether its archive is a cache hit: the data did not change.)
        #expect(try sandbox.apply(["--force"]).status == 0)
        let listed = try CLI.run(["list", "-c", sandbox.config]).stdout
        #expect(listed.contains(archives.last!) && !archives.dropLast().contains { listed.contains($0) }, "\(listed)")
        #expect(FileManager.default.fileExists(atPath: directory + "/" + archives.last!))
    }

    /// A restic backup point with `delete: never`: forget only reports; `polyarchiv prune` forgets and prunes.
    @Test func resticWithDeleteNeverForgetsOnlyInPrune() throws {
        guard try Sandbox.shell("command -v restic").status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("restic is missing: apt-get install restic") }
            return
        }
        let sandbox = try Sandbox()
        try sandbox.write("restic-password", "correct horse battery staple")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              vault: {engine: restic, repository: $ROOT/repo, password_file: $ROOT/restic-password, keep: {last: 1}, delete: never,
                      check: false}
            """)
        var output = ""
        for night in 0...2 {
            try sandbox.write("data/a.txt", "\(night)\n")
            let run = try sandbox.apply()
            #expect(run.status == 0, "\(run.stdout)")
            output = run.stdout
        }
        #expect(output.contains("delete: never: retention would forget 2 snapshot(s)"), "\(output)")
        func snapshots() throws -> Int {
            let listed = try Sandbox.shell("RESTIC_PASSWORD_FILE='\(sandbox.path("restic-password"))' restic -r '\(sandbox.path("repo"))' snapshots --json")
            return ((try? JSONSerialization.jsonObject(with: Data(listed.output.utf8))) as? [Any])?.count ?? -1
        }
        #expect(try snapshots() == 3, "nothing forgotten")
        let preview = try sandbox.run("prune", ["--dry-run"])
        #expect(preview.status == 0 && preview.stdout.components(separatedBy: "would forget snapshot ").count == 3, "\(preview.stdout)")
        #expect(try snapshots() == 3)
        let pruned = try sandbox.run("prune")
        #expect(pruned.status == 0 && pruned.stdout.components(separatedBy: "forgot snapshot ").count == 3, "\(pruned.stdout)\(pruned.stderr)")
        #expect(try snapshots() == 1)
        #expect(try Sandbox.shell("RESTIC_PASSWORD_FILE='\(sandbox.path("restic-password"))' restic -r '\(sandbox.path("repo"))' check").status == 0)
    }
}
