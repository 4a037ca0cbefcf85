import Foundation
import Testing
import TestSupport

/// Two hosts with one configuration share a backup point (the fleet setup). Each keeps its own history:
/// retention counts its own backups, restore gives back its own data unless `--host` asks for another's,
/// and an entry another writer's rewrite of the shared document lost is made again. Each host runs in its
/// own UTS namespace (`unshare --uts`), so it has its own hostname.
@Suite(.serialized) struct TwoHostsTests {
    /// Each host gets its own name in a UTS namespace of its own; without `unshare` the tests cannot run.
    func hostsCanBeNamed() throws -> Bool {
        guard try Sandbox.shell("unshare --uts true").status == 0 else {
            Issue.record("unshare --uts is needed to give each host its own name")
            return false
        }
        return true
    }

    /// The configuration every host shares: collect point `site` of the host's own data, shipped to `backupPoints`.
    func configure(_ sandbox: Sandbox, backupPoints: String) throws {
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect-{hostname}
                sources:
                  www: {engine: files, path: "$ROOT/data-{hostname}"}
            backup_points:
            \(backupPoints)
            """)
    }

    func run(as host: String, _ arguments: [String], _ sandbox: Sandbox) throws -> (status: Int32, output: String) {
        let words = ([CLI.binary.path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return try Sandbox.shell("unshare --uts sh -c \"hostname \(host) && exec \(words.joined(separator: " ").replacingOccurrences(of: "\"", with: "\\\""))\" 2>&1")
    }

    func apply(as host: String, _ sandbox: Sandbox) throws -> (status: Int32, output: String) {
        try run(as: host, ["apply", "-c", sandbox.config, "--state-dir", sandbox.path("state-\(host)")], sandbox)
    }

    /// The backups listed by the hosts' documents (each host writes its own).
    func document(_ sandbox: Sandbox, hosts: [String] = ["alpha", "beta"]) throws -> [[String: Any]] {
        try hosts.flatMap { host -> [[String: Any]] in
            let path = sandbox.path("backups/" + Sandbox.document("shared", "site", host: host))
            guard let data = FileManager.default.contents(atPath: path) else { return [] }
            return ((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["backups"] as? [[String: Any]]) ?? []
        }
    }

    @Test func eachHostKeepsAndRestoresItsOwnBackups() throws {
        guard try hostsCanBeNamed() else { return }
        let sandbox = try Sandbox()
        try sandbox.write("data-alpha/who.txt", "alpha 0\n")
        try sandbox.write("data-beta/who.txt", "beta\n")
        try configure(sandbox, backupPoints: """
              shared:
                engine: rolling_archive
                url: "file://$ROOT/backups/{name}-{hostname}-{Y}{m}{d}{H}{M}{S}.tar.gz"
                keep: {last: 2}
            """)
        #expect(try apply(as: "beta", sandbox).status == 0)
        for round in 1...3 {
            sleep(1)
            try sandbox.write("data-alpha/who.txt", "alpha \(round)\n")
            let run = try apply(as: "alpha", sandbox)
            #expect(run.status == 0, "\(run.output)")
        }
        let hosts = try document(sandbox).compactMap { $0["host"] as? String }
        #expect(hosts.filter { $0 == "alpha" }.count == 2, "alpha keeps its last 2: \(hosts)")
        #expect(hosts.filter { $0 == "beta" }.count == 1, "beta's only backup stays: \(hosts)")

        // beta on a fresh machine gets its own data back, and alpha's only when it asks.
        let restore = try run(as: "beta", ["restore", "-c", sandbox.config, "--target", sandbox.path("restored-beta")], sandbox)
        #expect(restore.status == 0, "\(restore.output)")
        #expect(try String(contentsOfFile: sandbox.path("restored-beta/site/www/who.txt"), encoding: .utf8) == "beta\n")
        let other = try run(as: "beta", ["restore", "-c", sandbox.config, "--host", "alpha", "--target", sandbox.path("restored-alpha")], sandbox)
        #expect(other.status == 0, "\(other.output)")
        #expect(try String(contentsOfFile: sandbox.path("restored-alpha/site/www/who.txt"), encoding: .utf8) == "alpha 3\n")
        let list = try run(as: "beta", ["list", "-c", sandbox.config], sandbox)
        #expect(list.output.components(separatedBy: ".tar.gz").count == 2, "beta lists its own backup:\n\(list.output)")
        let gamma = try run(as: "gamma", ["restore", "-c", sandbox.config, "--target", sandbox.path("restored-gamma")], sandbox)
        #expect(gamma.status == 2)
        #expect(gamma.output.contains("by host gamma") && gamma.output.contains("--host NAME"), "\(gamma.output)")
        // Each host wrote only its own document.
        #expect(try document(sandbox, hosts: ["alpha"]).allSatisfy { $0["host"] as? String == "alpha" })
        #expect(try document(sandbox, hosts: ["beta"]).allSatisfy { $0["host"] as? String == "beta" })
    }

    @Test func anEntryLostToAnotherWritersRewriteIsMadeAgain() throws {
        guard try hostsCanBeNamed() else { return }
        let sandbox = try Sandbox()
        try sandbox.write("data-alpha/who.txt", "alpha\n")
        try sandbox.write("data-beta/who.txt", "beta\n")
        try configure(sandbox, backupPoints: """
              shared:
                engine: archive
                url: "file://$ROOT/backups/{name}-{hostname}.tar.gz"
            """)
        #expect(try apply(as: "alpha", sandbox).status == 0)
        #expect(try apply(as: "beta", sandbox).status == 0)
        // beta's entry is lost from its document (a restored server copy, a hand edit).
        let path = sandbox.path("backups/" + Sandbox.document("shared", "site", host: "beta"))
        #expect(try Sandbox.shell("python3 -c \"import json,sys; p=sys.argv[1]; d=json.load(open(p)); "
                                  + "d['backups']=[b for b in d['backups'] if b['host']!='beta']; json.dump(d, open(p,'w'))\" '\(path)'").status == 0)
        // beta's next run (nothing changed) finds its backup unlisted and records it again.
        let again = try apply(as: "beta", sandbox)
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("succeeded    upload:shared/site"), "the upload is not a cache hit: \(again.output)")
        let hosts = try document(sandbox).compactMap { $0["host"] as? String }.sorted()
        #expect(hosts == ["alpha", "beta"], "\(hosts)")
    }

    @Test(arguments: [SynchronizeTests.Target.folder, .ssh])
    func aHostNeverMirrorsOverAnotherHostsMirror(target: SynchronizeTests.Target) throws {
        guard try hostsCanBeNamed() else { return }
        let sandbox = try Sandbox()
        guard let (yaml, mirror, server) = try SynchronizeTests().mirror(target, sandbox) else { return }
        defer { server?.stop() }
        try sandbox.write("data-alpha/who.txt", "alpha\n")
        try sandbox.write("data-beta/other.txt", "beta\n")
        // The same url for every host: a mistake the mirror's mark catches.
        try configure(sandbox, backupPoints: """
              mirror: \(yaml)
            """)
        #expect(try apply(as: "alpha", sandbox).status == 0)
        let beta = try apply(as: "beta", sandbox)
        #expect(beta.status == 2)
        #expect(beta.output.contains("another host's (or collect point's) mirror"), "\(beta.output)")
        #expect(try String(contentsOfFile: mirror + "/www/who.txt", encoding: .utf8) == "alpha\n", "alpha's mirror is intact")
        #expect(!FileManager.default.fileExists(atPath: mirror + "/www/other.txt"))
    }

    @Test func resticSnapshotsOfOneHostAreNeitherForgottenNorRestoredByAnother() throws {
        guard try hostsCanBeNamed() else { return }
        guard try Sandbox.shell("command -v restic").status == 0 else {
            Issue.record("restic is needed: apt-get install restic")
            return
        }
        let sandbox = try Sandbox()
        try sandbox.write("data-alpha/who.txt", "alpha 0\n")
        try sandbox.write("data-beta/who.txt", "beta\n")
        try sandbox.write("restic-password", "correct horse battery staple")
        try configure(sandbox, backupPoints: """
              vault:
                engine: restic
                repository: $ROOT/repo
                password_file: $ROOT/restic-password
                keep: {last: 1}
            """)
        #expect(try apply(as: "beta", sandbox).status == 0)
        for round in 1...2 {
            try sandbox.write("data-alpha/who.txt", "alpha \(round)\n")
            let run = try apply(as: "alpha", sandbox)
            #expect(run.status == 0, "\(run.output)")
        }
        let snapshots = try Sandbox.shell("RESTIC_PASSWORD_FILE='\(sandbox.path("restic-password"))' restic -r '\(sandbox.path("repo"))' "
                                          + "snapshots --json")
        let hosts = ((try? JSONSerialization.jsonObject(with: Data(snapshots.output.utf8))) as? [[String: Any]] ?? []).compactMap { $0["hostname"] as? String }
        #expect(hosts.sorted() == ["alpha", "beta"], "alpha kept its last one, beta's stays: \(hosts)")
        let restore = try run(as: "beta", ["restore", "-c", sandbox.config, "--target", sandbox.path("restored-beta")], sandbox)
        #expect(restore.status == 0, "\(restore.output)")
        #expect(try String(contentsOfFile: sandbox.path("restored-beta/site/www/who.txt"), encoding: .utf8) == "beta\n")
        let other = try run(as: "beta", ["restore", "-c", sandbox.config, "--host", "alpha", "--target", sandbox.path("restored-alpha")], sandbox)
        #expect(other.status == 0, "\(other.output)")
        #expect(try String(contentsOfFile: sandbox.path("restored-alpha/site/www/who.txt"), encoding: .utf8) == "alpha 2\n")
    }

    @Test func aSharedGitRemoteNeverGivesOneHostAnothersCommits() throws {
        guard try hostsCanBeNamed() else { return }
        let sandbox = try Sandbox()
        try sandbox.write("data-alpha/who.txt", "alpha\n")
        try sandbox.write("data-beta/who.txt", "beta\n")
        // The same branch for every host: beta's push is refused (never forced), and beta never restores alpha's data.
        try configure(sandbox, backupPoints: """
              remote: {engine: git, url: "file://$ROOT/remote.git"}
            """)
        #expect(try apply(as: "alpha", sandbox).status == 0)
        let beta = try apply(as: "beta", sandbox)
        #expect(beta.status == 2, "\(beta.output)")
        #expect(beta.output.contains("refused the push to main: its branch has commits this backup does not have"), "\(beta.output)")
        #expect(beta.output.contains("nothing was forced") && !beta.output.contains("cannot push because"), "no raw libgit2 text: \(beta.output)")
        let log = try Sandbox.shell("git -C '\(sandbox.path("remote.git"))' log --format=%B main")
        #expect(log.output.contains("Polyarchiv-Host: alpha") && !log.output.contains("Polyarchiv-Host: beta"), "\(log.output)")
        let restore = try run(as: "beta", ["restore", "-c", sandbox.config, "--target", sandbox.path("restored-beta")], sandbox)
        #expect(restore.status == 2)
        #expect(restore.output.contains("by host beta") && restore.output.contains("(alpha)"), "\(restore.output)")
        let asked = try run(as: "beta", ["restore", "-c", sandbox.config, "--host", "alpha", "--target", sandbox.path("restored-alpha")], sandbox)
        #expect(asked.status == 0, "\(asked.output)")
        #expect(try String(contentsOfFile: sandbox.path("restored-alpha/site/www/who.txt"), encoding: .utf8) == "alpha\n")
    }

    /// The document all hosts shared before each got its own: each host's entries are read from it until the
    /// host writes its own document, which starts with them; the shared one is never written.
    @Test func theSharedDocumentOfEarlierVersionsIsReadForEachHostsEntries() throws {
        guard try hostsCanBeNamed() else { return }
        let sandbox = try Sandbox()
        try sandbox.write("data-alpha/who.txt", "alpha new\n")
        try configure(sandbox, backupPoints: """
              shared:
                engine: archive
                url: "file://$ROOT/backups/{name}-{hostname}-{Y}{m}{d}{H}{M}{S}.tar.gz"
            """)
        // What an earlier version left: one shared document listing a backup of each host.
        let old = Date().addingTimeInterval(-86_400)
        try FileManager.default.createDirectory(atPath: sandbox.path("backups"), withIntermediateDirectories: true)
        for host in ["alpha", "beta"] {
            try sandbox.write("old-\(host)/www/who.txt", "\(host) old\n")
            #expect(try Sandbox.shell("tar -C '\(sandbox.path("old-\(host)"))' -czf '\(sandbox.path("backups/site-\(host)-old.tar.gz"))' www").status == 0)
        }
        let entries = try ["alpha", "beta"].map { host -> [String: Any] in
            let file = sandbox.path("backups/site-\(host)-old.tar.gz")
            let digest = try Sandbox.shell("sha256sum '\(file)' | cut -c1-64").output.trimmingCharacters(in: .whitespacesAndNewlines)
            let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            return ["location": "file://" + file, "digest": digest, "size": size, "host": host,
                    "created": ISO8601DateFormatter().string(from: old)]
        }
        let shared = sandbox.path("backups/shared-site.polyarchiv.json")
        try JSONSerialization.data(withJSONObject: ["format": "polyarchiv-metadata 1", "backup_point": "shared", "collect_point": "site",
                                                    "backups": entries]).write(to: URL(fileURLWithPath: shared))
        let before = try Data(contentsOf: URL(fileURLWithPath: shared))
        // beta, not upgraded yet, restores its old backup from the shared document.
        let beta = try run(as: "beta", ["restore", "-c", sandbox.config, "--target", sandbox.path("restored-beta")], sandbox)
        #expect(beta.status == 0, "\(beta.output)")
        #expect(try String(contentsOfFile: sandbox.path("restored-beta/site/www/who.txt"), encoding: .utf8) == "beta old\n")
        // alpha runs: its document starts with its entry of the shared one.
        #expect(try apply(as: "alpha", sandbox).status == 0)
        let alpha = try document(sandbox, hosts: ["alpha"]).compactMap { $0["location"] as? String }
        #expect(alpha.count == 2 && alpha.contains { $0.hasSuffix("site-alpha-old.tar.gz") }, "\(alpha)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: shared)) == before, "the shared document is never written")
        let list = try run(as: "alpha", ["list", "-c", sandbox.config], sandbox)
        #expect(list.output.components(separatedBy: ".tar.gz").count == 3, "alpha lists its two backups:\n\(list.output)")
    }
}
