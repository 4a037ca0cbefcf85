import Foundation
import Testing
import TestSupport

/// polyarchiv runs as root beside directories unprivileged users can write (a monitoring user's status
/// directory, a web root's parent, /tmp). Each test is the attack of such a user (`nobody`, through
/// `setpriv`), driven so that it wins on the code it was written against.
@Suite(.serialized) struct LocalAttackerTests {
    func rootOnly() -> Bool { runsAsRoot("an attacker as another user") }

    func makeSandbox() throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.write("data/www/index.html", "<h1>one</h1>\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data/www}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        return sandbox
    }

    func asNobody(_ command: String) throws {
        #expect(try Sandbox.shell("setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c '\(command)' >/dev/null 2>&1 &").status == 0)
    }

    func mode(_ path: String) -> (mode: mode_t, gid: gid_t) {
        var info = stat()
        lstat(path, &info)
        return (info.st_mode & 0o7777, info.st_gid)
    }

    @Test func theStatusFileIsNeverChmoddedOrChownedThroughALinkTheMonitoringUserPlants() throws {
        guard rootOnly() else { return }
        let sandbox = try makeSandbox()
        try sandbox.write("secret", "root only\n")
        chmod(sandbox.path("secret"), 0o600)
        let status = sandbox.path("status")
        try FileManager.default.createDirectory(atPath: status, withIntermediateDirectories: true)
        #expect(try Sandbox.shell("chmod 755 '\(sandbox.root.path)' && chown nobody:nogroup '\(status)'").status == 0)
        // The monitoring user keeps replacing the status file with a link to the secret, as fast as it can.
        try asNobody("""
            exec /usr/bin/python3 -c "import os,time
            os.closerange(3, 4096)
            d,t=\\"\(status)\\",\\"\(sandbox.path("secret"))\\"; end=time.time()+60
            while time.time()<end and not os.path.exists(d+\\"/stop\\"):
                try:
                    os.symlink(t, d+\\"/x\\"); os.rename(d+\\"/x\\", d+\\"/polyarchiv.json\\")
                except OSError: pass"
            """)
        defer { _ = FileManager.default.createFile(atPath: status + "/stop", contents: nil) }
        for _ in 0..<5 {
            _ = try sandbox.apply(["--status-file", status + "/polyarchiv.json", "--status-group", "nogroup"])
            let secret = mode(sandbox.path("secret"))
            #expect(secret.mode == 0o600 && secret.gid == 0, "the secret kept its mode and group: \(String(secret.mode, radix: 8)) gid \(secret.gid)")
            if secret.mode != 0o600 { break }
        }
    }

    @Test func anInPlaceRestoreAcrossFileSystemsCannotBeSteeredByTheTargetsParentsOwner() throws {
        guard rootOnly() else { return }
        let sandbox = try Sandbox()
        let mount = sandbox.path("mnt")
        guard try mountTmpfs(at: mount, size: "32m") else { return }
        defer { _ = try? Sandbox.shell("umount -l '\(mount)'") }
        // The web root's parent belongs to the site's user; the restored data comes from /tmp, another file system.
        try FileManager.default.createDirectory(atPath: mount + "/site/www", withIntermediateDirectories: true)
        try "<h1>one</h1>\n".write(toFile: mount + "/site/www/index.html", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: mount + "/site/elsewhere", withIntermediateDirectories: true)
        #expect(try Sandbox.shell("chmod 755 '\(sandbox.root.path)' && chown nobody:nogroup '\(mount)/site' '\(mount)/site/elsewhere'").status == 0)
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: \(mount)/site/www}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        #expect(try sandbox.apply().status == 0)
        // The names a restore in the next minute would copy into, planted as links to the user's own directory.
        try asNobody("""
            exec /usr/bin/python3 -c "import os,time
            now=int(time.time())
            for t in range(now-5, now+60):
                os.symlink(\\"\(mount)/site/elsewhere\\", \\"\(mount)/site/www.polyarchiv-restoring-\\"+time.strftime(\\"%Y%m%d-%H%M%S\\", time.localtime(t)))"
            """)
        usleep(500_000)
        let run = try sandbox.run("restore", ["--in-place", "--yes"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        var info = stat()
        #expect(lstat(mount + "/site/www", &info) == 0 && info.st_mode & S_IFMT == S_IFDIR, "the live path is a directory, not a link")
        #expect(info.st_uid == 0, "owned as backed up")
        #expect((try? String(contentsOfFile: mount + "/site/www/index.html", encoding: .utf8)) == "<h1>one</h1>\n")
        let planted = try FileManager.default.contentsOfDirectory(atPath: mount + "/site/elsewhere")
        #expect(planted.isEmpty, "nothing was copied into the user's directory: \(planted)")
    }

    @Test func importIniNeverWritesThroughALinkPlantedInTmp() throws {
        guard rootOnly() else { return }
        let sandbox = try Sandbox()
        try sandbox.write("victim", "untouched\n")
        try sandbox.write("ini/site.collect", "[point]\nengine=files\nlocal_path=/var/backups/site\n[source \"www\"]\nengine=local_files\nsource_path=/srv/www\n")
        try sandbox.write("ini/out.backup", "[point]\nengine=archive\nremote_url=file:///srv/{name}.tar.gz\n")
        // Links at the names the next few hundred processes would use (one planting process, so that it uses up
        // none of them), as another user could plant them in a shared /tmp.
        let tmp = NSTemporaryDirectory()
        let planted = try Sandbox.shell("""
            python3 -c "import os
            last=int(open('/proc/sys/kernel/ns_last_pid').read())
            for p in range(last+1, last+1000):
                try: os.symlink('\(sandbox.path("victim"))', '\(tmp)/polyarchiv-import-%d.yaml' % p)
                except OSError: pass
            print(last)"
            """)
        let first = Int(planted.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(first > 0, "\(planted.output)")
        defer {
            for pid in first + 1..<first + 1000 { unlink(tmp + "/polyarchiv-import-\(pid).yaml") }
        }
        let run = try CLI.run(["import-ini", sandbox.path("ini"), "-o", sandbox.path("polyarchiv.yaml")])
        #expect(run.status == 0, "\(run.stderr)")
        #expect((try? String(contentsOfFile: sandbox.path("victim"), encoding: .utf8)) == "untouched\n")
    }

    @Test func aStateDirectoryThatAlreadyExistsIsMadePrivate() throws {
        let sandbox = try makeSandbox()
        try FileManager.default.createDirectory(atPath: sandbox.state, withIntermediateDirectories: true)
        chmod(sandbox.state, 0o755)
        #expect(try sandbox.apply().status == 0)
        #expect(mode(sandbox.state).mode == 0o700)
        let readable = try Sandbox.shell("find '\(sandbox.state)' -maxdepth 0 -perm /077")
        #expect(readable.output.isEmpty, "\(readable.output)")
    }
}
