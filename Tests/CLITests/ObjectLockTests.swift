import Foundation
import Testing
import TestSupport

/// `immutable:` on an S3 rolling archive, against moto with a bucket that has Object Lock enabled: each
/// backup and its listing are locked (the document is not), the server refuses to delete a locked backup,
/// `plan` says until when each is locked, and retention leaves a locked backup alone but deletes every
/// version of one whose lock is over (here: one made before the lock was asked for).
@Suite(.serialized) struct ObjectLockTests {
    @Test func lockedBackupsCannotBeDeletedAndRetentionWaitsForTheirLock() throws {
        guard let server = try TestServer.start("s3.py", options: ["--locked-bucket", "vault"]) else { return }
        defer { server.stop() }
        let endpoint = server.string("endpoint"), access = server.string("access_key"), secret = server.string("secret_key")
        func s3(_ method: String, _ path: String) throws -> (status: Int32, output: String) {
            try Sandbox.shell("curl -s -o /dev/stdout -w '\\nHTTP %{http_code}' -X \(method) --aws-sigv4 aws:amz:us-east-1:s3 "
                              + "--user '\(access):\(secret)' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' '\(endpoint)\(path)' -D -")
        }
        let sandbox = try Sandbox()
        try sandbox.write("data/a.txt", "one\n")
        func configure(lock: Bool) throws {
            try sandbox.configure("""
                collect_points:
                  site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
                backup_points:
                  vault:
                    engine: rolling_archive
                    url: "s3://vault/backups/{name}-{Y}{m}{d}{H}{M}{S}.tar.gz"
                    s3_endpoint: "\(endpoint)"
                    s3_url_style: path
                    s3_access_key: \(access)
                    s3_secret_key: "\(secret)"
                    keep: {last: 1}
                \(lock ? "    immutable: governance\n    immutable_days: 2" : "")
                """)
        }
        // A first backup made before the lock was asked for: not locked.
        try configure(lock: false)
        #expect(try sandbox.apply().status == 0)
        sleep(1)
        try configure(lock: true)
        let plan = try sandbox.run("plan")
        #expect(plan.stdout.contains("locked 2 days, governance"), "\(plan.stdout)")
        try sandbox.write("data/a.txt", "two\n")
        let second = try sandbox.apply()
        #expect(second.status == 0, "\(second.stdout)")
        let listing = try s3("GET", "/vault?prefix=backups%2F&versions=").output
        let keys = Set(listing.components(separatedBy: "<Key>").dropFirst().compactMap { $0.components(separatedBy: "</Key>").first })
        let archives = keys.filter { $0.hasSuffix(".tar.gz") }.sorted()
        // keep {last: 1}: the unlocked first backup is gone with every version (no delete marker either); the new one
        // is there, locked.
        #expect(archives.count == 1, "\(listing)")
        let newest = try #require(archives.last)
        let head = try s3("HEAD", "/vault/\(newest)").output.lowercased()
        #expect(head.contains("x-amz-object-lock-mode: governance") && head.contains("x-amz-object-lock-retain-until-date:"), "\(head)")
        let listingHead = try s3("HEAD", "/vault/\(newest).polyarchiv-tree").output.lowercased()
        #expect(listingHead.contains("x-amz-object-lock-mode: governance"), "the listing beside it is locked too: \(listingHead)")
        let document = try #require(keys.first { $0.hasSuffix(".polyarchiv.json") })
        #expect(!(try s3("HEAD", "/vault/\(document)").output.lowercased().contains("object-lock-mode")), "the document is not locked")
        // The server refuses to delete the locked version.
        let version = try #require(listing.components(separatedBy: "<Key>\(newest)</Key>").dropFirst().first?
            .components(separatedBy: "<VersionId>").dropFirst().first?.components(separatedBy: "</VersionId>").first)
        #expect(try s3("DELETE", "/\("vault")/\(newest)?versionId=\(version)").output.contains("HTTP 403"), "a locked backup cannot be deleted")
        // Retention waits for the lock: a third run keeps the second backup, and says until when it is locked.
        sleep(1)
        try sandbox.write("data/a.txt", "three\n")
        let third = try sandbox.apply()
        #expect(third.status == 0, "\(third.stdout)")
        let after = try s3("GET", "/vault?prefix=backups%2F&versions=").output
        #expect(after.contains("<Key>\(newest)</Key>"), "the locked backup stays: \(after)")
        #expect(try sandbox.run("plan").stdout.contains("locked until "), "plan says until when")
        // Object Lock on another transport is refused at file:line.
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              local: {engine: rolling_archive, url: "file://$ROOT/b/{name}.tar.gz", keep: {daily: 7}, immutable: compliance}
            """)
        let refused = try CLI.run(["validate", "-c", sandbox.config])
        #expect(refused.status == 1 && refused.stderr.contains("immutable needs an s3:// url"), "\(refused.stderr)")
    }
}
