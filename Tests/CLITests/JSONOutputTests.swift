import Foundation
import Testing
import TestSupport

/// Every `--json` output carries `"schema": 1`, names a SHA-256 `sha256` (never `digest`), uses snake_case
/// keys, and the listings that stream (list, ls, find, diff, apply's events) print one object per line with
/// its `type` (or `event`).
@Suite struct JSONOutputTests {
    /// Every key of an object and of the objects and arrays inside it.
    static func keys(_ value: Any) -> [String] {
        if let object = value as? [String: Any] { return object.keys + object.values.flatMap(keys) }
        if let array = value as? [Any] { return array.flatMap(keys) }
        return []
    }

    static func checkNaming(_ objects: [[String: Any]], _ what: String) {
        #expect(!objects.isEmpty, "\(what) printed nothing")
        for object in objects {
            #expect(object["schema"] as? Int == 1, "\(what): \(object)")
            for key in keys(object) where key != key.lowercased() || key == "digest" {
                Issue.record("\(what): key `\(key)` (snake_case and `sha256` only)")
            }
        }
    }

    @Test func everyJSONOutputHasTheSchemaAndOneNaming() throws {
        let sandbox = try Sandbox.withDailyBackups(of: ["one\n", "two\n"])
        let config = ["-c", sandbox.config]
        func document(_ arguments: [String]) throws -> [String: Any] {
            let result = try CLI.run(arguments)
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                                "\(arguments): \(result.stdout)\(result.stderr)")
        }
        // Documents.
        for arguments in [["plan", "--format", "json", "--state-dir", sandbox.state], ["graph", "--format", "json"],
                          ["check", "--json", "--state-dir", sandbox.state], ["check", "--json", "--from-backup-points"],
                          ["restore", "--json", "--target", sandbox.path("restored")]] {
            Self.checkNaming([try document(arguments + config)], arguments.joined(separator: " "))
        }
        // Listings, a line each.
        let list = try CLI.jsonLines(try CLI.run(["list", "--json"] + config).stdout)
        Self.checkNaming(list, "list")
        #expect(list.map { $0["type"] as? String } == ["backup_point", "backup", "backup"], "\(list)")
        #expect(list.dropFirst().allSatisfy { ($0["sha256"] as? String)?.count == 64 }, "\(list)")
        let ls = try CLI.jsonLines(try CLI.run(["ls", "--json"] + config).stdout)
        Self.checkNaming(ls, "ls")
        #expect(ls.first { $0["path"] as? String == "www/a.txt" }?["sha256"] as? String
                == (try Sandbox.shell("printf 'two\\n' | sha256sum").output.prefix(64).description), "\(ls)")
        let find = try CLI.jsonLines(try CLI.run(["find", "--json", "*.txt"] + config).stdout)
        Self.checkNaming(find, "find")
        #expect(find.count == 2 && find.allSatisfy { $0["type"] as? String == "match" }, "\(find)")
        let diff = try CLI.jsonLines(try CLI.run(["diff", "--json"] + config).stdout)
        Self.checkNaming(diff, "diff")
        #expect(diff.map { $0["type"] as? String } == ["diff", "change"] && diff.last?["path"] as? String == "www/a.txt", "\(diff)")
        #expect(diff.last?["change"] as? String == "changed" && (diff.last?["what"] as? [String])?.contains("content") == true, "\(diff)")
        // apply's and verify's events.
        try sandbox.write("data/a.txt", "three\n")
        let apply = try CLI.jsonLines(try sandbox.apply(["--json"]).stdout)
        Self.checkNaming(apply, "apply")
        #expect(apply.allSatisfy { $0["event"] is String } && apply.last?["event"] as? String == "summary")
        let verify = try CLI.jsonLines(try sandbox.run("verify", ["--json"]).stdout)
        Self.checkNaming(verify, "verify")
    }
}
