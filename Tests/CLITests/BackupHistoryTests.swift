import Foundation
import Testing
import TestSupport

/// A metadata document that is gone where this host recorded backups (an unmounted disk, a changed URL) is
/// an error, not a new history that would hide the older backups from restore and retention.
@Suite(.serialized) struct BackupHistoryTests {
    func makeSandbox() throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "one\n")
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                sources:
                  www: {engine: files, path: $ROOT/data}
            backup_points:
              local:
                engine: archive
                url: "file://$ROOT/mnt/backups/{name}-{Y}{m}{d}{H}{M}{S}.tar.gz"
            """)
        return sandbox
    }

    @Test func aMissingDocumentWhereBackupsWereRecordedStopsTheUpload() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        // The disk is unmounted: its mount point is an empty directory.
        try FileManager.default.moveItem(atPath: sandbox.path("mnt/backups"), toPath: sandbox.path("disk"))
        try FileManager.default.createDirectory(atPath: sandbox.path("mnt/backups"), withIntermediateDirectories: true)
        sleep(1)
        try sandbox.write("data/index.html", "two\n")
        let run = try sandbox.apply()
        #expect(run.status == 2)
        let output = run.stdout + run.stderr
        #expect(output.contains(Sandbox.document("local", "site") + " is missing, but this host recorded 1 backup(s) there"), "\(output)")
        #expect(output.contains("gc --forget-backups local"), "\(output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.path("mnt/backups")).isEmpty, "nothing was written on the mount point")
        // Mounted again: the run completes, and the document lists both backups.
        try FileManager.default.removeItem(atPath: sandbox.path("mnt/backups"))
        try FileManager.default.moveItem(atPath: sandbox.path("disk"), toPath: sandbox.path("mnt/backups"))
        #expect(try sandbox.apply().status == 0)
        let list = try CLI.run(["list", "-c", sandbox.config])
        #expect(list.stdout.components(separatedBy: ".tar.gz").count == 3, "two backups listed:\n\(list.stdout)")
    }

    @Test func forgettingABackupPointStartsANewHistory() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        try FileManager.default.removeItem(atPath: sandbox.path("mnt/backups"))
        sleep(1)
        try sandbox.write("data/index.html", "two\n")
        #expect(try sandbox.apply().status == 2)
        let gc = try CLI.run(["gc", "--state-dir", sandbox.state, "--forget-backups", "local"])
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(gc.stdout.contains("forgot 1 backup(s) recorded at local"), "\(gc.stdout)")
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let list = try CLI.run(["list", "-c", sandbox.config])
        #expect(list.stdout.components(separatedBy: ".tar.gz").count == 2, "one backup listed:\n\(list.stdout)")
    }

    @Test func anUploadWhoseDocumentWasNeverWrittenDoesNotBlockTheNext() throws {
        let sandbox = try makeSandbox()
        // The first document write fails (a directory sits where it goes).
        try FileManager.default.createDirectory(atPath: sandbox.path("mnt/backups/" + Sandbox.document("local", "site")), withIntermediateDirectories: true)
        #expect(try sandbox.apply().status == 2)
        try FileManager.default.removeItem(atPath: sandbox.path("mnt/backups/" + Sandbox.document("local", "site")))
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("mnt/backups/" + Sandbox.document("local", "site"))))
    }
}
