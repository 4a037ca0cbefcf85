import Foundation
import Testing
import TestSupport

/// Every collect point with every filter combination: back up, restore on a fresh machine (from the
/// backup point, and from the collect point itself where it can), compare byte for byte.
@Suite(.serialized) struct CollectPointFilterMatrixTests {
    static let combinations = ["none", "hashes", "encrypt", "hashes+encrypt", "encrypt+hashes"]

    func filters(_ combination: String, recipient: String) -> String {
        guard combination != "none" else { return "[]" }
        return "[" + combination.split(separator: "+").map { name in
            name == "hashes" ? "{engine: hashes}" : "{engine: encrypt, recipients: [\(recipient)]}"
        }.joined(separator: ", ") + "]"
    }

    @Test(arguments: ["files", "git", "archive"], combinations)
    func roundTrip(engine: String, combination: String) throws {
        guard try Sandbox.shell("command -v age-keygen").status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("age-keygen is missing: apt-get install age") }
            return
        }
        let sandbox = try Sandbox()
        try sandbox.write("key.txt", try Sandbox.shell("age-keygen 2>/dev/null").output)
        let recipient = try Sandbox.shell("age-keygen -y '\(sandbox.path("key.txt"))'").output.trimmingCharacters(in: .whitespacesAndNewlines)
        try sandbox.write("data/index.html", "<h1>MATRIX-CLEAR</h1>\n")
        try sandbox.write("data/sub/deeper/file.bin", String(repeating: "MATRIX-CLEAR\u{1}\u{2}", count: 50_000))
        try sandbox.write("data/empty.txt", "")
        // A name that is not UTF-8 (Latin-1, as old uploads and Samba shares hold) comes back as its bytes.
        try Sandbox.shell("python3 -c \"open(b'\(sandbox.path("data"))/caf\\xe9.txt', 'wb').write(b'latin-1 name')\"")
        let extra = engine == "archive" ? "archive_name: \"{name}.tar.xz\"" : ""
        try sandbox.configure("""
            collect_points:
              site:
                engine: \(engine)
                path: $ROOT/cp
                \(extra)
                sources: {www: {engine: files, path: $ROOT/data}}
                filters: \(filters(combination, recipient: recipient))
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        let run = try sandbox.apply()
        try #require(run.status == 0, "\(run.stdout)")
        if combination.contains("encrypt") {
            let clear = try Sandbox.shell("grep -rlI 'MATRIX-CLEAR' '\(sandbox.path("cp"))' '\(sandbox.state)' '\(sandbox.path("backups"))'; "
                                          + "find '\(sandbox.path("cp"))' -name '*.xz' -exec sh -c 'xz -dc \"$1\" | grep -c MATRIX-CLEAR' _ {} \\;")
            #expect(clear.output.split(separator: "\n").allSatisfy { $0 == "0" }, "clear text left: \(clear.output)")
            if engine == "git" {
                let history = try Sandbox.shell("git -C '\(sandbox.path("cp"))' grep -I MATRIX-CLEAR $(git -C '\(sandbox.path("cp"))' rev-list --all)")
                #expect(history.status == 1 && history.output.isEmpty, "clear text in git: \(history.output)")
            }
        }
        if combination.hasSuffix("hashes") || combination == "hashes" {
            #expect(try Sandbox.shell("tar -xzOf '\(sandbox.path("backups/site.tar.gz"))' SHA256SUMS | grep -c '  www/index.html'").status == 0)
        }
        try FileManager.default.removeItem(atPath: sandbox.state)
        let identity = ["--identity", sandbox.path("key.txt")]
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")] + identity)
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(sandbox.path("restored/site/www"))'").status == 0)
        if combination.contains("hashes") { #expect(restored.stdout.contains("verified SHA256SUMS")) }
        if engine != "files" {
            let local = try CLI.run(["restore", "-c", sandbox.config, "--from-collect-point", "--target",
                                                  sandbox.path("local")] + identity)
            #expect(local.status == 0, "\(local.stderr)")
            #expect(try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(sandbox.path("local/site/www"))'").status == 0)
        }
    }
}
