import Foundation
import Testing
import TestSupport

/// A full disk under the collect point, the state directory or a `file://` backup point (a small tmpfs):
/// apply fails with a line that says so, no final name holds a partial file, and once there is room the
/// next apply completes and restores the same bytes.
@Suite(.serialized) struct FullDiskTests {
    enum Place: String, CaseIterable, CustomStringConvertible {
        case collectPoint, stateDirectory, backupPoint
        var description: String { rawValue }
    }

    @Test(arguments: Place.allCases)
    func aFullDiskFailsCleanlyAndTheNextApplyCompletes(place: Place) throws {
        let sandbox = try Sandbox()
        let disk = sandbox.path("disk")
        guard try mountTmpfs(at: disk, size: "2m") else { return }
        defer { _ = try? Sandbox.shell("umount -l '\(disk)'") }
        // 4 MiB of incompressible bytes: more than the disk holds, whatever is written there.
        #expect(try Sandbox.shell("mkdir -p '\(sandbox.path("data"))' && head -c 4194304 /dev/urandom > '\(sandbox.path("data/random.bin"))'").status == 0)
        let collect = place == .collectPoint ? disk + "/collect" : sandbox.path("collect")
        let backups = place == .backupPoint ? disk + "/backups" : sandbox.path("backups")
        let state = place == .stateDirectory ? disk + "/state" : sandbox.state
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: "\(collect)", sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              local: {engine: archive, url: "file://\(backups)/{name}.tar.zst"}
            """)
        let full = try CLI.run(["apply", "-c", sandbox.config, "--state-dir", state])
        #expect(full.status == 2, "\(full.stdout)\(full.stderr)")
        #expect((full.stdout + full.stderr).contains("the disk is full"), "\(full.stdout)\(full.stderr)")
        // No final name holds a partial file.
        if let archive = try? Data(contentsOf: URL(fileURLWithPath: backups + "/site.tar.zst")) {
            Issue.record("the archive is under its final name after a failed run (\(archive.count) bytes)")
        }
        let copied = collect + "/www/random.bin"
        if FileManager.default.fileExists(atPath: copied) {
            #expect(try Sandbox.shell("cmp '\(sandbox.path("data/random.bin"))' '\(copied)'").status == 0, "a partial collect point file")
        }
        // Room again: the same disk, larger.
        #expect(try Sandbox.shell("mount -o remount,size=64m '\(disk)'").status == 0)
        let again = try CLI.run(["apply", "-c", sandbox.config, "--state-dir", state])
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        let restore = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try Sandbox.shell("cmp '\(sandbox.path("data/random.bin"))' '\(sandbox.path("restored/site/www/random.bin"))'").status == 0)
        let leftovers = try Sandbox.shell("find '\(backups)' -name '*polyarchiv-part*'").output
        #expect(leftovers.isEmpty, "no temporary file is left: \(leftovers)")
    }
}
