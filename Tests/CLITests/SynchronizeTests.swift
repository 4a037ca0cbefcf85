import Foundation
import Testing
import TestSupport

/// synchronize: a mirror in a folder, over ssh (rsync) and on WebDAV (changed files only), deletions
/// included, restored on a fresh machine.
@Suite(.serialized) struct SynchronizeTests {
    enum Target: String, CaseIterable, CustomStringConvertible {
        case folder, ssh, webdav
        var description: String { rawValue }
    }

    @Test(arguments: Target.allCases)
    func mirrorFollowsTheCollectPointAndRestores(target: Target) throws {
        let sandbox = try Sandbox()
        var server: TestServer?
        let yaml: String
        let mirror: String
        switch target {
        case .folder:
            mirror = sandbox.path("mirror")
            yaml = "{engine: synchronize, url: \"file://\(mirror)\"}"
        case .ssh:
            guard let started = try TestServer.start("sshd.py") else { return }
            server = started
            mirror = sandbox.path("remote/mirror")
            yaml = "{engine: synchronize, url: \"ssh://root@127.0.0.1:\(started.port)\(mirror)\", private_key: \(started.string("private_key")), "
                + "known_hosts: \(started.string("known_hosts"))}"
        case .webdav:
            guard let started = try TestServer.start("webdav.py") else { return }
            server = started
            mirror = started.string("root") + "/mirror"
            yaml = "{engine: synchronize, url: \"\(started.string("url"))mirror/\", username: \(started.string("user")), "
                + "password_file: \(started.string("password_file"))}"
        }
        defer { server?.stop() }
        try sandbox.write("data/index.html", "<h1>one</h1>\n")
        try sandbox.write("data/docs/a b.txt", "spaced name\n")
        try sandbox.write("data/old.txt", "to be deleted\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              mirror: \(yaml)
            """)
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)")
        #expect(try String(contentsOfFile: mirror + "/www/docs/a b.txt", encoding: .utf8) == "spaced name\n")
        #expect(try sandbox.apply(["--force"]).stdout.contains("cached     upload:mirror/site"))
        try sandbox.write("data/index.html", "<h1>two</h1>\n")
        try FileManager.default.removeItem(atPath: sandbox.path("data/old.txt"))
        #expect(try sandbox.apply(["--force"]).status == 0)
        #expect(try String(contentsOfFile: mirror + "/www/index.html", encoding: .utf8) == "<h1>two</h1>\n")
        #expect(!FileManager.default.fileExists(atPath: mirror + "/www/old.txt"), "deletions reach the mirror")
        #expect(try Sandbox.shell("find '\(mirror)' -name '*polyarchiv-part*' -o -name '.polyarchiv-collect-point'").output.isEmpty)
        try FileManager.default.removeItem(atPath: sandbox.state)
        try FileManager.default.removeItem(atPath: sandbox.path("collect"))
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(sandbox.path("restored/site/www"))'").status == 0)
    }
}
