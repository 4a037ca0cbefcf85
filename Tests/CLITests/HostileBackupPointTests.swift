import Foundation
import Testing
import TestSupport

/// What a hostile backup point can and cannot do: it can withhold or destroy backups, never make polyarchiv
/// fetch from elsewhere, fill the disk, hang, follow a link the restored tree holds, or lose the rest of a
/// restore over one entry it should not hold.
extension RestoreSafetyTests {
    /// Rewrites the first backup of the metadata document with `changes` (a Python dict literal).
    func rewriteDocument(_ sandbox: Sandbox, _ changes: String) throws {
        let document = sandbox.path("backups/" + Sandbox.document("local", "site"))
        let run = try Sandbox.shell("python3 -c \"import json,sys; p=sys.argv[1]; d=json.load(open(p)); d['backups'][0].update(\(changes)); "
                                    + "json.dump(d, open(p,'w'))\" '\(document)' 2>&1")
        #expect(run.status == 0, "\(run.output)")
    }

    /// The binary under `timeout`, so that a hang fails the test instead of holding it.
    func bounded(_ arguments: String, seconds: Int = 120) throws -> (status: Int32, output: String) {
        try Sandbox.shell("timeout -s KILL \(seconds) '\(CLI.binary.path)' \(arguments) 2>&1")
    }

    @Test func aLocationOutsideTheBackupPointsDirectoryIsNeverFetched() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        // A consistent backup elsewhere (same digest and size): still not this backup point's to offer.
        try FileManager.default.createDirectory(atPath: sandbox.path("elsewhere"), withIntermediateDirectories: true)
        try Sandbox.shell("cp '\(sandbox.path("backups/site.tar.gz"))' '\(sandbox.path("elsewhere/site.tar.gz"))'")
        try rewriteDocument(sandbox, "{'location': 'file://\(sandbox.path("elsewhere/site.tar.gz"))'}")
        let elsewhere = try bounded("restore -c '\(sandbox.config)' --target '\(sandbox.path("restored"))'")
        #expect(elsewhere.status == 2, "\(elsewhere.output)")
        #expect(elsewhere.output.contains("which is not a file in") && elsewhere.output.contains("refused"), "\(elsewhere.output)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("restored/site")))
        // /dev/zero never ends: refused before a byte is read, by restore and by verify.
        try rewriteDocument(sandbox, "{'location': 'file:///dev/zero'}")
        let zero = try bounded("verify -c '\(sandbox.config)' --state-dir '\(sandbox.state)'")
        #expect(zero.status != 0 && zero.status != 137, "\(zero.output)")
        #expect(zero.output.contains("refused"), "\(zero.output)")
        let listed = try bounded("ls -c '\(sandbox.config)' --collect-point site")
        #expect(listed.status != 137, "ls does not hang: \(listed.output)")
    }

    @Test func aDownloadStopsAtTheRecordedSize() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        // The archive grows past what the document records (a server that never stops sending, in small).
        try Sandbox.shell("head -c 3000000 /dev/urandom >> '\(sandbox.path("backups/site.tar.gz"))'")
        let run = try bounded("restore -c '\(sandbox.config)' --target '\(sandbox.path("restored"))'")
        #expect(run.status == 2, "\(run.output)")
        #expect(run.output.contains("is larger than the") && run.output.contains("bytes recorded for it"), "\(run.output)")
        let left = try Sandbox.shell("find '\(sandbox.path("restored"))' -type f -size +1000k")
        #expect(left.output.isEmpty, "nothing large was left: \(left.output)")
    }

    @Test func anIndexNamingALinkToADeviceNeitherHangsRestoreNorVerify() throws {
        let sandbox = try makeSandbox(filters: "[{engine: hashes}]")
        #expect(try sandbox.apply().status == 0)
        let zeros = "30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58"  // 1 MiB of zeros
        try tamper(sandbox, """
            add('www/index.html', tarfile.REGTYPE, data=b'<h1>one</h1>')
            i=tarfile.TarInfo('www/zero'); i.type=tarfile.SYMTYPE; i.linkname='/dev/zero'; t.addfile(i)
            add('SHA256SUMS', tarfile.REGTYPE, data=b'\(zeros)  www/zero')
            """)
        let restored = try bounded("restore -c '\(sandbox.config)' --target '\(sandbox.path("restored"))'")
        #expect(restored.status == 2, "restore ends, and fails: \(restored.output)")
        #expect(restored.output.contains("www/zero") && restored.output.contains("refused"), "\(restored.output)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("restored/site")))
        let verified = try bounded("verify -c '\(sandbox.config)' --state-dir '\(sandbox.state)'")
        #expect(verified.status != 0 && verified.status != 137, "verify ends, and fails: \(verified.output)")
        #expect(verified.output.contains("www/zero"), "\(verified.output)")
    }

    /// A mirror brought back by rsync can hold a FIFO (rsync -a as root makes one): it is removed before the
    /// hashes index is checked, so the check fails on it instead of blocking in open() for good.
    @Test func aFIFOInAMirrorNamedByTheIndexNeitherHangsRestoreNorVerify() throws {
        let sandbox = try makeSandbox(filters: "[{engine: hashes}]", backupPoint: "mirror: {engine: synchronize, url: \"file://$ROOT/mirror/{name}\"}")
        #expect(try sandbox.apply().status == 0)
        let mirror = sandbox.path("mirror/site")
        #expect(mkfifo(mirror + "/www/pipe", 0o644) == 0)
        let sums = try String(contentsOfFile: mirror + "/SHA256SUMS", encoding: .utf8)
        try (sums + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  www/pipe\n")
            .write(toFile: mirror + "/SHA256SUMS", atomically: false, encoding: .utf8)
        let restored = try bounded("restore -c '\(sandbox.config)' --target '\(sandbox.path("restored"))'")
        #expect(restored.status == 2, "restore ends, and fails: \(restored.output)")
        #expect(restored.output.contains("www/pipe"), "\(restored.output)")
        let verified = try bounded("verify -c '\(sandbox.config)' --state-dir '\(sandbox.state)'")
        #expect(verified.status != 0 && verified.status != 137, "verify ends, and fails: \(verified.output)")
        #expect(verified.output.contains("www/pipe"), "\(verified.output)")
    }

    @Test func restoreInPlaceNeverPutsALinkTheBackupHoldsAtALivePath() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        try sandbox.write("private/secret", "root only\n")
        // The source's data is a link to another directory of this host.
        try tamper(sandbox, """
            i=tarfile.TarInfo('www'); i.type=tarfile.SYMTYPE; i.linkname='\(sandbox.path("private"))'; t.addfile(i)
            """)
        let run = try bounded("restore -c '\(sandbox.config)' --state-dir '\(sandbox.state)' --in-place --yes")
        #expect(run.status == 2, "\(run.output)")
        #expect(run.output.contains("www: FAILED") && run.output.contains("refused"), "\(run.output)")
        var info = stat()
        #expect(lstat(sandbox.path("data/www"), &info) == 0 && info.st_mode & S_IFMT == S_IFDIR, "the live path is still a directory")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("data/www/index.html")))
    }

    @Test func oneDeviceOrFIFORefusedStillRestoresTheRest() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        try tamper(sandbox, """
            add('www/index.html', tarfile.REGTYPE, data=b'<h1>one</h1>')
            add('www/img/logo.png', tarfile.REGTYPE, data=b'png')
            add('www/pipe', tarfile.FIFOTYPE)
            """)
        let run = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.components(separatedBy: "\n").filter { $0.contains("refused www/pipe (FIFO)") }.count == 1, "\(run.stderr)")
        #expect((try? String(contentsOfFile: sandbox.path("restored/site/www/index.html"), encoding: .utf8)) == "<h1>one</h1>")
        let path = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("some"), "--path", "www/img/"])
        #expect(path.status == 2, "\(path.stderr)")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("some/site/www/img/logo.png")), "\(path.stderr)")
        let left = try Sandbox.shell("find '\(sandbox.path("restored"))' '\(sandbox.path("some"))' ! -type f ! -type d ! -type l")
        #expect(left.output.isEmpty, "no special file was created: \(left.output)")
    }
}

/// The credentials of a WebDAV backup point never go to another server a tampered metadata document names.
@Suite struct CredentialSteeringTests {
    @Test func aWebDAVBackupPointsPasswordNeverReachesAnotherPort() throws {
        guard let server = try TestServer.start("webdav.py") else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("data/www/index.html", "<h1>one</h1>\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data/www}}}
            backup_points:
              dav: {engine: archive, url: "\(server.string("url"))backups/{name}.tar.gz", username: \(server.string("user")), password_file: \(server.string("password_file"))}
            """)
        #expect(try sandbox.apply().status == 0)
        // A listener on another port writes down whatever Authorization it is sent.
        let heard = sandbox.path("heard"), portFile = sandbox.path("port")
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        listener.arguments = ["-c", """
            import http.server, os, sys, socketserver, time
            class H(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    open(sys.argv[1], 'a').write(self.path + ' ' + str(self.headers.get('Authorization')) + '\\n')
                    self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
                do_HEAD = do_GET
                def log_message(self, *a): pass
            s = socketserver.TCPServer(('127.0.0.1', 0), H)
            s.timeout = 1
            open(sys.argv[2], 'w').write(str(s.server_address[1]))
            end = time.time() + 300
            while time.time() < end and not os.path.exists(sys.argv[2] + '.stop'):
                s.handle_request()
            """, heard, portFile]
        listener.standardOutput = FileHandle.nullDevice
        listener.standardError = FileHandle.nullDevice
        try listener.run()
        defer {
            _ = FileManager.default.createFile(atPath: portFile + ".stop", contents: nil)
            listener.terminate()
        }
        var port = ""
        for _ in 0..<100 where port.isEmpty {
            usleep(100_000)
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)) ?? ""
        }
        #expect(Int(port) != nil, "the listener started")
        let document = server.string("root") + "/backups/" + Sandbox.document("dav", "site")
        let rewrite = try Sandbox.shell("python3 -c \"import json,sys; p=sys.argv[1]; d=json.load(open(p)); "
                                        + "d['backups'][0]['location']='http://127.0.0.1:\(port)/backups/site.tar.gz'; "
                                        + "d['backups'][0]['manifest']='http://127.0.0.1:\(port)/backups/site.tar.gz.polyarchiv-tree'; "
                                        + "json.dump(d, open(p,'w'))\" '\(document)' 2>&1")
        #expect(rewrite.status == 0, "\(rewrite.output)")
        let restore = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restore.status == 2, "\(restore.stderr)")
        #expect(restore.stderr.contains("refused"), "\(restore.stderr)")
        let ls = try CLI.run(["ls", "-c", sandbox.config, "--collect-point", "site"])
        #expect(ls.status != 0, "\(ls.stdout)\(ls.stderr)")
        let verify = try sandbox.run("verify")
        #expect(verify.status != 0, "\(verify.stdout)\(verify.stderr)")
        let requests = (try? String(contentsOfFile: heard, encoding: .utf8)) ?? ""
        #expect(requests.isEmpty, "the other port was sent: \(requests)")
    }
}
