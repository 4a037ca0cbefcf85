import Foundation
import Testing

/// rolling_archive: plan shows what retention keeps (and why) and deletes; apply deletes only after
/// the new archive is in place; restore still finds the newest.
@Suite(.serialized) struct RollingArchiveTests {
    @Test func retentionKeepsByRuleAndDeletesTheRest() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "<h1>now</h1>\n")
        // Backups of earlier runs, as a metadata document and files.
        let now = Date()
        var backups: [[String: Any]] = []
        for days in [1, 2, 3, 10, 40] {
            let name = "rolling/site-old-\(days)d.tar.gz"
            try sandbox.write(name, "old archive \(days)\n")
            backups.append(["location": "file://" + sandbox.path(name), "size": 14, "host": "old",
                            "digest": String(repeating: "0", count: 64),
                            "created": ISO8601DateFormatter().string(from: now.addingTimeInterval(-Double(days) * 86_400))])
        }
        // An entry that points elsewhere (a tampered document) is never deleted.
        try sandbox.write("elsewhere/victim.txt", "precious\n")
        backups.append(["location": "file://" + sandbox.path("elsewhere/victim.txt"), "size": 9, "host": "old",
                        "digest": String(repeating: "0", count: 64),
                        "created": ISO8601DateFormatter().string(from: now.addingTimeInterval(-90 * 86_400))])
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
        let plan = try CommandLineTests.run(["plan", "-c", sandbox.config, "--state-dir", sandbox.state])
        #expect(plan.status == 0, "\(plan.stderr)")
        let lines = plan.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.filter { $0.hasPrefix("keep") }.count == 4, "\(plan.stdout)")
        #expect(lines.contains { $0.hasPrefix("keep") && $0.contains("(this run)") == false && $0.contains("site-old-1d") && $0.contains("within 5d, last snapshot") },
                "\(plan.stdout)")
        #expect(lines.contains { $0.hasPrefix("delete") && $0.contains("site-old-10d") })
        #expect(lines.contains { $0.hasPrefix("delete") && $0.contains("site-old-40d") })
        // plan deleted nothing.
        #expect(FileManager.default.fileExists(atPath: sandbox.path("rolling/site-old-40d.tar.gz")))

        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("elsewhere/victim.txt")))
        #expect(run.stdout.contains("is not in this backup point's directory; not deleted"), "\(run.stdout)")
        let remaining = try FileManager.default.contentsOfDirectory(atPath: sandbox.path("rolling")).sorted()
        #expect(remaining.filter { $0.hasPrefix("site-old") } == ["site-old-1d.tar.gz", "site-old-2d.tar.gz", "site-old-3d.tar.gz"], "\(remaining)")
        #expect(remaining.filter { $0.hasPrefix("site-2") && $0.hasSuffix(".tar.gz") }.count == 1, "the new archive: \(remaining)")
        let listed = try String(contentsOfFile: sandbox.path("rolling/site.json"), encoding: .utf8)
        #expect(!listed.contains("site-old-10d") && listed.contains("site-old-3d"))
        // A fresh machine restores the newest: this run's archive.
        try FileManager.default.removeItem(atPath: sandbox.state)
        let restored = try CommandLineTests.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("restored/site/www/index.html"), encoding: .utf8) == "<h1>now</h1>\n")
    }
}
