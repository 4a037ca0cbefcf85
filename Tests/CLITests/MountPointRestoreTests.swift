import Foundation
import Testing
import TestSupport

/// `restore --in-place` of a source that is a mount point (a fresh volume at /srv/www): filled where it is,
/// what it holds moved into a folder inside it, on the same file system; `--dry-run` says so.
@Suite struct MountPointRestoreTests {
    @Test func aMountPointIsFilledInPlaceAndWhatItHeldIsKept() throws {
        guard runsAsRoot("mounting a tmpfs") else { return }
        let sandbox = try Sandbox()
        let www = sandbox.path("mnt/www")
        guard try mountTmpfs(at: www, size: "16m") else { return }
        defer { _ = try? Sandbox.shell("umount -l '\(www)'") }
        try FileManager.default.createDirectory(atPath: www + "/img", withIntermediateDirectories: true)
        try "<h1>one</h1>\n".write(toFile: www + "/index.html", atomically: false, encoding: .utf8)
        try "<svg/>\n".write(toFile: www + "/img/logo.svg", atomically: false, encoding: .utf8)
        chmod(www, 0o751)
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: \(www)}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        #expect(try sandbox.apply().status == 0)
        try "<h1>two</h1>\n".write(toFile: www + "/index.html", atomically: false, encoding: .utf8)
        try "new\n".write(toFile: www + "/new.txt", atomically: false, encoding: .utf8)
        chmod(www, 0o700)
        let preview = try sandbox.run("restore", ["--in-place", "--yes", "--dry-run"])
        #expect(preview.stdout.contains("\(www) is a mount point: it is filled where it is"), "\(preview.stdout)\(preview.stderr)")
        let run = try sandbox.run("restore", ["--in-place", "--yes"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("put back \(www) (a mount point: filled where it is)"), "\(run.stdout)")
        #expect((try? String(contentsOfFile: www + "/index.html", encoding: .utf8)) == "<h1>one</h1>\n")
        #expect((try? String(contentsOfFile: www + "/img/logo.svg", encoding: .utf8)) == "<svg/>\n")
        #expect(!FileManager.default.fileExists(atPath: www + "/new.txt"))
        var own = stat(), parent = stat()
        #expect(stat(www, &own) == 0 && stat(sandbox.path("mnt"), &parent) == 0 && own.st_dev != parent.st_dev, "still the mounted volume")
        #expect(own.st_mode & 0o7777 == 0o751, "the backed-up mode: \(String(own.st_mode & 0o7777, radix: 8))")
        let aside = (try FileManager.default.contentsOfDirectory(atPath: www)).filter { $0.hasPrefix(".polyarchiv-before-restore-") }
        #expect(aside.count == 1, "\(aside)")
        if let folder = aside.first {
            #expect((try? String(contentsOfFile: www + "/" + folder + "/index.html", encoding: .utf8)) == "<h1>two</h1>\n")
            #expect(FileManager.default.fileExists(atPath: www + "/" + folder + "/new.txt"))
        }
        let leftovers = (try FileManager.default.contentsOfDirectory(atPath: www)).filter { $0.contains("polyarchiv-restoring") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}
