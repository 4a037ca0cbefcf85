import Foundation
import Testing
import TestSupport

/// rolling_archive: plan shows what retention keeps (and why) and deletes; apply deletes only after
/// the new archive is in place; restore still finds the newest.
@Suite(.serialized) struct RollingArchiveTests {
    /// A second run under the same name (a daily URL, run twice in a day) never replaces a backup without
    /// saying so: rolling_archive keeps both (`NAME-2`), `same_name: refuse` fails and `replace` replaces; a
    /// file this host did not record is never replaced, whatever the setting.
    @Test func aSecondBackupUnderTheSameNameKeepsBothRefusesOrReplacesAsConfigured() throws {
        let sandbox = try Sandbox()
        func configure(_ sameName: String?) throws {
            try sandbox.configure("""
                collect_points:
                  site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
                backup_points:
                  daily: {engine: rolling_archive, url: "file://$ROOT/b/{name}.tar.gz", keep: {last: 5}\(sameName.map { ", same_name: \($0)" } ?? "")}
                  latest: {engine: archive, url: "file://$ROOT/l/{name}.tar.gz"}
                """)
        }
        func digest(_ path: String) throws -> String { try Sandbox.shell("sha256sum < '\(sandbox.path(path))'").output }
        try configure(nil)
        try sandbox.write("data/a.txt", "morning\n")
        // Someone else's file where `latest` writes: not this host's to replace.
        try sandbox.write("l/site.tar.gz", "another host's archive\n")
        let morning = try sandbox.apply()
        #expect(morning.status == 0, "\(morning.stdout)")
        #expect(try String(contentsOfFile: sandbox.path("l/site.tar.gz"), encoding: .utf8) == "another host's archive\n")
        #expect(morning.stdout.contains("already holds a file this host did not record"), "\(morning.stdout)")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("l/site-2.tar.gz")))
        let first = try digest("b/site.tar.gz")

        try sandbox.write("data/a.txt", "evening\n")
        let evening = try sandbox.apply()
        #expect(evening.status == 0, "\(evening.stdout)")
        #expect(try digest("b/site.tar.gz") == first, "the morning's backup is kept as it was")
        #expect(try Sandbox.shell("tar -xzOf '\(sandbox.path("b/site-2.tar.gz"))' www/a.txt").output == "evening\n")
        #expect(evening.stdout.contains("already holds this host's backup of"), "\(evening.stdout)")
        let list = try CLI.run(["list", "-c", sandbox.config, "--backup-point", "daily"])
        #expect(list.stdout.contains("site.tar.gz") && list.stdout.contains("site-2.tar.gz"), "\(list.stdout)")
        // `latest` (archive: replace by default) replaces its own backup, and only it.
        #expect(try Sandbox.shell("tar -xzOf '\(sandbox.path("l/site-2.tar.gz"))' www/a.txt").output == "evening\n")

        try configure("refuse")
        try sandbox.write("data/a.txt", "night\n")
        let refused = try sandbox.apply()
        #expect(refused.status == 2, "\(refused.stdout)")
        #expect(refused.stdout.contains("already holds this host's backup of") && refused.stdout.contains("same_name: refuse"), "\(refused.stdout)")
        #expect(try digest("b/site.tar.gz") == first)

        try configure("replace")
        let replaced = try sandbox.apply()
        #expect(replaced.status == 0, "\(replaced.stdout)")
        #expect(try Sandbox.shell("tar -xzOf '\(sandbox.path("b/site.tar.gz"))' www/a.txt").output == "night\n")
    }

    @Test func retentionKeepsByRuleAndDeletesTheRest() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "<h1>now</h1>\n")
        // Backups of earlier runs, as a metadata document and files.
        let now = Date()
        var backups: [[String: Any]] = []
        // This host's backups carry its name (the fleet setup: {hostname} in the file name); retention may delete them.
        let host = try Sandbox.shell("hostname -s").output.trimmingCharacters(in: .whitespacesAndNewlines)
        for days in [1, 2, 3, 10, 40] {
            let name = "rolling/site-old-\(days)d-\(host).tar.gz"
            try sandbox.write(name, "old archive \(days)\n")
            backups.append(["location": "file://" + sandbox.path(name), "size": 14, "host": host,
                            "digest": String(repeating: "0", count: 64),
                            "created": ISO8601DateFormatter().string(from: now.addingTimeInterval(-Double(days) * 86_400))])
        }
        // An entry that points elsewhere (a tampered document), one that climbs out of the directory, and another host's
        // backup beside ours are never deleted.
        try sandbox.write("elsewhere/victim.txt", "precious\n")
        try sandbox.write("rolling/site-other-host.tar.gz", "another host's only backup\n")
        for (location, days) in [("file://" + sandbox.path("elsewhere/victim.txt"), 90.0), ("file://" + sandbox.path("rolling/.."), 91.0),
                                 ("file://" + sandbox.path("rolling/%2e%2e"), 92.0), ("file://" + sandbox.path("rolling/site-other-host.tar.gz"), 93.0)] {
            backups.append(["location": location, "size": 9, "host": host, "digest": String(repeating: "0", count: 64),
                            "created": ISO8601DateFormatter().string(from: now.addingTimeInterval(-days * 86_400))])
        }
        let document: [String: Any] = ["format": "polyarchiv-metadata 1", "backup_point": "rolling", "collect_point": "site", "backups": backups]
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: sandbox.path("rolling/site.json")))
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              rolling:
                engine: rolling_archive
                url: "file://$ROOT/rolling/{name}-{Y}{m}{d}{H}{M}{S}.tar.gz"
                metadata_url: "file://$ROOT/rolling/site.json"
                keep: {last: 2, within: 5d}
            """)
        let plan = try CLI.run(["plan", "-c", sandbox.config, "--state-dir", sandbox.state])
        #expect(plan.status == 0, "\(plan.stderr)")
        let lines = plan.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.filter { $0.hasPrefix("keep") }.count == 4, "\(plan.stdout)")
        #expect(lines.filter { $0.hasPrefix("delete") }.count == 2, "\(plan.stdout)")
        #expect(lines.filter { $0.hasPrefix("expired") && $0.contains("left alone") }.count == 4, "\(plan.stdout)")
        #expect(lines.contains { $0.hasPrefix("keep") && $0.contains("(this run)") == false && $0.contains("site-old-1d") && $0.contains("within 5d, last snapshot") },
                "\(plan.stdout)")
        #expect(lines.contains { $0.hasPrefix("delete") && $0.contains("site-old-10d") })
        #expect(lines.contains { $0.hasPrefix("delete") && $0.contains("site-old-40d") })
        // plan deleted nothing.
        #expect(FileManager.default.fileExists(atPath: sandbox.path("rolling/site-old-40d-\(host).tar.gz")))

        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("elsewhere/victim.txt")))
        #expect(FileManager.default.fileExists(atPath: sandbox.path("rolling/site-other-host.tar.gz")))
        #expect(run.stdout.components(separatedBy: "was not made by this host in this backup point's directory; not deleted").count == 5,
                "\(run.stdout)")
        let remaining = try FileManager.default.contentsOfDirectory(atPath: sandbox.path("rolling")).sorted()
        #expect(remaining.filter { $0.hasPrefix("site-old") }
                == ["site-old-1d-\(host).tar.gz", "site-old-2d-\(host).tar.gz", "site-old-3d-\(host).tar.gz"], "\(remaining)")
        #expect(remaining.filter { $0.hasPrefix("site-2") && $0.hasSuffix(".tar.gz") }.count == 1, "the new archive: \(remaining)")
        let listed = try String(contentsOfFile: sandbox.path("rolling/site.json"), encoding: .utf8)
        #expect(!listed.contains("site-old-10d") && listed.contains("site-old-3d"))
        // A fresh machine restores the newest: this run's archive.
        try FileManager.default.removeItem(atPath: sandbox.state)
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("restored/site/www/index.html"), encoding: .utf8) == "<h1>now</h1>\n")
    }

    /// A WebDAV DELETE of a collection deletes everything under it: a document entry naming one (tampered, or
    /// a directory that carries this host's name) is refused, and its files stay.
    @Test func aCollectionIsNeverDeletedOverWebDAV() throws {
        guard let server = try TestServer.start("webdav.py") else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "now\n")
        let host = try Sandbox.shell("hostname -s").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let root = server.string("root")
        let url = server.string("url")
        try FileManager.default.createDirectory(atPath: root + "/rolling/site-old-\(host)", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/rolling/site-older-\(host)", withIntermediateDirectories: true)
        try "precious\n".write(toFile: root + "/rolling/site-old-\(host)/precious.txt", atomically: false, encoding: .utf8)
        try "precious\n".write(toFile: root + "/rolling/site-older-\(host)/precious.txt", atomically: false, encoding: .utf8)
        let now = Date()
        let backups: [[String: Any]] = [("site-old-\(host)", 40.0), ("site-older-\(host)/", 41.0)].map { name, days in
            ["location": url + "rolling/" + name, "size": 9, "host": host, "digest": String(repeating: "0", count: 64),
             "created": ISO8601DateFormatter().string(from: now.addingTimeInterval(-days * 86_400))]
        }
        let document: [String: Any] = ["format": "polyarchiv-metadata 1", "backup_point": "rolling", "collect_point": "site", "backups": backups]
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: root + "/rolling/rolling-site.polyarchiv.json"))
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              rolling:
                engine: rolling_archive
                url: "\(url)rolling/{name}-{Y}{m}{d}{H}{M}{S}-\(host).tar.gz"
                username: \(server.string("user"))
                password_file: \(server.string("password_file"))
                keep: {last: 1}
            """)
        let run = try sandbox.apply()
        #expect(run.stdout.contains("refusing to delete"), "\(run.stdout)")
        for name in ["site-old-\(host)", "site-older-\(host)"] {
            #expect(FileManager.default.fileExists(atPath: root + "/rolling/\(name)/precious.txt"), "\(name) was deleted")
        }
        let archives = try FileManager.default.contentsOfDirectory(atPath: root + "/rolling").filter { $0.hasSuffix(".tar.gz") }
        #expect(archives.count == 1, "the new backup is there: \(archives)")
    }
}

