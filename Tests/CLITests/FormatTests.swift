import Foundation
import Testing
import TestSupport

/// Archive formats and hash indexes, judged by the real tools; a full disk at the backup point.
@Suite(.serialized) struct FormatTests {
    static let formats = ["tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst"]

    @Test(arguments: formats)
    func everyArchiveFormatRoundTripsThroughTar(_ format: String) throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/a.txt", String(repeating: "polyarchiv ", count: 1000))
        try sandbox.write("data/sub/b.txt", "b\n")
        try sandbox.configure("""
            collect_points:
              box:
                engine: archive
                path: $ROOT/collect
                archive_name: "{name}.\(format)"
                sources: {data: {engine: files, path: $ROOT/data}}
            backup_points:
              out: {engine: archive, url: "file://$ROOT/backups/{name}.\(format)"}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        for archive in [sandbox.path("collect/box.\(format)"), sandbox.path("backups/box.\(format)")] {
            let listing = try Sandbox.shell("tar -tvf '\(archive)'")
            #expect(listing.status == 0, "\(listing.output)")
            #expect(listing.output.contains("data/sub/b.txt"))
            let restored = sandbox.path("restored-\(UUID().uuidString)")
            try FileManager.default.createDirectory(atPath: restored, withIntermediateDirectories: true)
            #expect(try Sandbox.shell("tar -C '\(restored)' -xf '\(archive)'").status == 0)
            #expect(try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(restored)/data'").status == 0)
        }
        // Reproducible: the same tree gives the same bytes.
        let first = try Data(contentsOf: URL(fileURLWithPath: sandbox.path("backups/box.\(format)")))
        try FileManager.default.removeItem(atPath: sandbox.state)
        #expect(try sandbox.apply().status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: sandbox.path("backups/box.\(format)"))) == first)
    }

    @Test(arguments: [("sha256", "sha256sum", "SHA256SUMS"), ("sha1", "sha1sum", "SHA1SUMS"),
                      ("sha512", "sha512sum", "SHA512SUMS"), ("md5", "md5sum", "MD5SUMS")])
    func hashIndexesVerifyWithTheRealTools(_ method: String, _ tool: String, _ file: String) throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/a.txt", "alpha\n")
        try sandbox.write("data/dir with space/b.txt", "beta\n")
        try sandbox.configure("""
            collect_points:
              box:
                engine: files
                path: $ROOT/collect
                sources: {data: {engine: files, path: $ROOT/data}}
                filters: [{engine: hashes, method: \(method)}]
            """)
        #expect(try sandbox.apply().status == 0)
        let check = try Sandbox.shell("cd '\(sandbox.path("collect"))' && \(tool) -c \(file)")
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("data/dir with space/b.txt: OK"))
        // A damaged copy fails the check, naming the file.
        try "tampered\n".write(toFile: sandbox.path("collect/data/a.txt"), atomically: false, encoding: .utf8)
        let damaged = try Sandbox.shell("cd '\(sandbox.path("collect"))' && \(tool) -c \(file)")
        #expect(damaged.status != 0)
        #expect(damaged.output.contains("data/a.txt: FAILED"))
    }

    @Test func aFullDiskAtTheBackupPointIsOneClearLineAndLeavesNoPartialFile() throws {
        let sandbox = try Sandbox()
        let mountPoint = sandbox.path("tiny")
        guard try mountTmpfs(at: mountPoint, size: "1M") else { return }
        defer { _ = try? Sandbox.shell("umount '\(mountPoint)'") }
        try Sandbox.shell("mkdir -p '\(sandbox.path("data"))' && head -c 3000000 /dev/urandom > '\(sandbox.path("data/random.bin"))'")
        try sandbox.configure("""
            collect_points:
              box:
                engine: files
                path: $ROOT/collect
                sources: {data: {engine: files, path: $ROOT/data}}
            backup_points:
              out: {engine: archive, url: "file://$ROOT/tiny/{name}.tar.zst"}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 2)
        #expect(run.stdout.contains("FAILED   upload:out/box"))
        #expect(run.stdout.contains("the disk is full"), "\(run.stdout)")
        let left = try FileManager.default.contentsOfDirectory(atPath: mountPoint)
        #expect(left.isEmpty, "nothing may stay on the full disk: \(left)")
    }
}
