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
        // A name that is not UTF-8 (Latin-1, as old uploads and Samba shares hold) comes back as its bytes.
        try Sandbox.shell("python3 -c \"open(b'\(sandbox.path("data"))/caf\\xe9.txt', 'wb').write(b'latin-1 name')\"")
        // An extended attribute travels too: rsync -X, or the WebDAV manifest.
        let attributes = try Sandbox.shell("setfattr -n user.origin -v mirrored '\(sandbox.path("data/docs/a b.txt"))'").status == 0
        if !attributes && ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("setfattr is missing: apt-get install attr") }
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              mirror: \(yaml)
            """)
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)")
        #expect(try String(contentsOfFile: mirror + "/www/docs/a b.txt", encoding: .utf8) == "spaced name\n")
        #expect(try sandbox.apply(["--force"]).stdout.contains("cached       upload:mirror/site"))
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
        if attributes {
            let origin = try Sandbox.shell("getfattr --absolute-names --only-values -n user.origin '\(sandbox.path("restored/site/www/docs/a b.txt"))'")
            #expect(origin.output == "mirrored", "the attribute came back: \(origin.output)")
        }
    }

    /// A backup point on the target's mirror directory, and the server behind it.
    func mirror(_ target: Target, _ sandbox: Sandbox) throws -> (yaml: String, path: String, server: TestServer?)? {
        switch target {
        case .folder:
            let mirror = sandbox.path("mirror")
            return ("{engine: synchronize, url: \"file://\(mirror)\"}", mirror, nil)
        case .ssh:
            guard let started = try TestServer.start("sshd.py") else { return nil }
            let mirror = sandbox.path("remote/mirror")
            return ("{engine: synchronize, url: \"ssh://root@127.0.0.1:\(started.port)\(mirror)\", private_key: \(started.string("private_key")), "
                    + "known_hosts: \(started.string("known_hosts"))}", mirror, started)
        case .webdav:
            guard let started = try TestServer.start("webdav.py") else { return nil }
            return ("{engine: synchronize, url: \"\(started.string("url"))mirror/\", username: \(started.string("user")), "
                    + "password_file: \(started.string("password_file"))}", started.string("root") + "/mirror", started)
        }
    }

    @Test(arguments: [Target.folder, .ssh])
    func aFolderHoldingOtherFilesIsNeverMirroredInto(target: Target) throws {
        let sandbox = try Sandbox()
        guard let (yaml, mirror, server) = try self.mirror(target, sandbox) else { return }
        defer { server?.stop() }
        try sandbox.write("data/index.html", "<h1>one</h1>\n")
        try FileManager.default.createDirectory(atPath: mirror, withIntermediateDirectories: true)
        try "precious\n".write(toFile: mirror + "/thesis.tex", atomically: false, encoding: .utf8)
        chmod(mirror, 0o755)
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              mirror: \(yaml)
            """)
        let run = try sandbox.apply()
        #expect(run.status == 2)
        #expect((run.stdout + run.stderr).contains("holds files polyarchiv did not put there"), "\(run.stdout)\(run.stderr)")
        #expect(try String(contentsOfFile: mirror + "/thesis.tex", encoding: .utf8) == "precious\n", "nothing deleted")
        #expect(!FileManager.default.fileExists(atPath: mirror + "/www"), "nothing written")
        // An empty folder is taken, and keeps its mode.
        try FileManager.default.removeItem(atPath: mirror + "/thesis.tex")
        #expect(try sandbox.apply().status == 0)
        #expect(FileManager.default.fileExists(atPath: mirror + "/www/index.html"))
        let mode = try FileManager.default.attributesOfItem(atPath: mirror)[.posixPermissions] as? Int
        #expect(mode == 0o755, "the folder's mode is kept")
    }

    @Test func aTamperedWebDAVManifestCannotMakeItDeleteWhatItNeverSent() throws {
        let sandbox = try Sandbox()
        guard let (yaml, mirror, server) = try self.mirror(.webdav, sandbox) else { return }
        defer { server?.stop() }
        try sandbox.write("data/index.html", "<h1>one</h1>\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              mirror: \(yaml)
            """)
        #expect(try sandbox.apply().status == 0)
        // Another user's file on the server, which the remote manifest now claims.
        try "theirs\n".write(toFile: mirror + "/www/theirs.txt", atomically: false, encoding: .utf8)
        let manifest = mirror + "/.polyarchiv-tree"
        let lines = try String(contentsOfFile: manifest, encoding: .utf8)
        let claimed = lines.replacingOccurrences(of: "www/index.html", with: "www/theirs.txt")
        try (lines + claimed.split(separator: "\n").filter { $0.contains("theirs") }.joined(separator: "\n") + "\n")
            .write(toFile: manifest, atomically: false, encoding: .utf8)
        try sandbox.write("data/index.html", "<h1>two</h1>\n")
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: mirror + "/www/theirs.txt"), "a path only the remote manifest names is not deleted")
    }

    @Test func placesInsideAMirrorOrACollectPointAreRefused() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "<h1>one</h1>\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              mirror: {engine: synchronize, url: "file://$ROOT/collect/mirror"}
            """)
        let nested = try sandbox.run("validate")
        #expect(nested.status == 1)
        #expect(nested.stderr.contains("inside") && nested.stderr.contains("config.yaml:4:"), "\(nested.stderr)")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              mirror: {engine: synchronize, url: "file://$ROOT/mirror"}
            """)
        let state = try CLI.run(["apply", "-c", sandbox.config, "--state-dir", sandbox.path("collect/.state")])
        #expect(state.status != 0)
        #expect(state.stderr.contains("lie one inside the other"), "\(state.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("collect/.state")), "nothing was run")
    }
}
