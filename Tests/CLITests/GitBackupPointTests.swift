import Foundation
import Testing
import TestSupport

/// The git backup point: pushed histories judged by git (clone, fsck, log), over file:// and ssh://.
@Suite(.serialized) struct GitBackupPointTests {
    func git(_ directory: String, _ arguments: String) throws -> String {
        let result = try Sandbox.shell("git -C '\(directory)' \(arguments) 2>&1")
        #expect(result.status == 0, "git \(arguments): \(result.output)")
        return result.output
    }

    @Test func aFilesCollectPointGetsACommitPerChangedRunAndAGitOneItsOwnHistory() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "<h1>one</h1>\n")
        try sandbox.configure("""
            collect_points:
              plain: {engine: files, path: $ROOT/plain, sources: {www: {engine: files, path: $ROOT/data}}}
              history: {engine: git, path: $ROOT/history, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              remote:
                engine: git
                url: "file://$ROOT/remotes/{name}.git"
                metadata_url: "file://$ROOT/meta/{backup_point}-{collect_point}.json"
                commit_message: "backup of {name}"
            """)
        #expect(try sandbox.apply().status == 0)
        #expect(try sandbox.apply(["--force"]).status == 0)
        try sandbox.write("data/index.html", "<h1>two</h1>\n")
        let third = try sandbox.apply(["--force"])
        #expect(third.status == 0, "\(third.stdout)")
        for name in ["plain", "history"] {
            let remote = sandbox.path("remotes/\(name).git")
            #expect(try git(remote, "rev-list --count main") == "2\n", "\(name): one commit per changed run")
            #expect(try Sandbox.shell("git -C '\(remote)' fsck --strict 2>&1").status == 0)
            let clone = sandbox.path("clones/\(name)")
            #expect(try Sandbox.shell("git clone -q '\(remote)' '\(clone)' 2>&1").status == 0)
            #expect(try String(contentsOfFile: clone + "/www/index.html", encoding: .utf8) == "<h1>two</h1>\n")
        }
        // The git collect point's own commits are the ones pushed.
        #expect(try git(sandbox.path("history"), "rev-parse main") == git(sandbox.path("remotes/history.git"), "rev-parse main"))
        #expect(try git(sandbox.path("remotes/plain.git"), "log -1 --format=%s") == "backup of plain\n")
        // The metadata document lists each pushed commit.
        let document = try String(contentsOfFile: sandbox.path("meta/remote-plain.json"), encoding: .utf8)
        let head = try git(sandbox.path("remotes/plain.git"), "rev-parse main").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(document.contains("plain.git#" + head), "\(document)")
    }

    @Test func pushingOverSSHChecksTheHostKey() throws {
        guard let server = try TestServer.start("sshd.py") else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("data/a.txt", "a\n")
        let remote = sandbox.path("remote.git")
        #expect(try Sandbox.shell("git init -q --bare -b main '\(remote)'").status == 0)
        func configure(_ hostKey: String) throws {
            try sandbox.configure("""
                collect_points:
                  site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
                backup_points:
                  offsite: {engine: git, url: "ssh://root@127.0.0.1:\(server.port)\(remote)", private_key: \(server.string("private_key")), \(hostKey)}
                """)
        }
        try configure("known_hosts: \(server.string("known_hosts"))")
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        #expect(try git(remote, "rev-list --count main") == "1\n")
        try sandbox.write("data/a.txt", "b\n")
        try configure("host_key_sha256: \"\(server.string("host_key_sha256"))\"")
        #expect(try sandbox.apply(["--force"]).status == 0)
        #expect(try git(remote, "rev-list --count main") == "2\n")
        try sandbox.write("data/a.txt", "c\n")
        try configure("host_key_sha256: \"SHA256:AAAABogusBogusBogusBogusBogusBogusBogusBogus0\"")
        let refused = try sandbox.apply(["--force"])
        #expect(refused.status == 2)
        #expect(refused.stdout.contains("refusing to push"), "\(refused.stdout)")
        #expect(try git(remote, "rev-list --count main") == "2\n")
    }

    @Test func pushingOverGitDaemonAndSmartHTTP() throws {
        guard let server = try TestServer.start("git_server.py", options: ["--init", "daemon", "--init", "web"]) else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("data/a.txt", "a\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              daemon: {engine: git, url: "\(server.string("git_url"))daemon.git"}
              web: {engine: git, url: "http://\(server.string("user"))@\(server.string("http_url").dropFirst("http://".count))web.git", password_file: \(server.string("password_file"))}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        #expect(!run.stdout.contains(server.string("password")), "the password is never shown")
        for name in ["daemon", "web"] {
            let repository = server.string("repos") + "/\(name).git"
            #expect(try git(repository, "rev-list --count main") == "1\n", "\(name)")
        }
    }
}
