import Foundation
import Testing
import TestSupport

/// The verify step: what sits at each kind of backup point is checked there (an archive against its
/// SHA-256 and hashes index, a mirror's files against the hashes index, a git remote with git fsck, a
/// restic repository with restic check --read-data-subset); damage is a failed `verify:` stage, a
/// CRITICAL `check`, a 0 in the metrics file and a `verify_error` hook.
@Suite struct VerifyTests {
    static func sandbox(restic: Bool) throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "<h1>home</h1>\n")
        try sandbox.write("data/big.bin", String(repeating: "0123456789abcdef", count: 40_000))
        try sandbox.write("restic-password", "correct horse battery staple")
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                sources: {www: {engine: files, path: $ROOT/data}}
                filters: [{engine: hashes, method: sha256}]
            backup_points:
              tarball: {engine: archive, url: "file://$ROOT/backups/{name}.tar.zst"}
              mirror: {engine: synchronize, url: "file://$ROOT/mirror/{name}"}
              history: {engine: git, url: "file://$ROOT/remote/{name}.git"}
            """ + (restic ? """

              vault: {engine: restic, repository: $ROOT/repo, password_file: $ROOT/restic-password, read_data_subset: 100%}
            """ : "") + """

            hooks:
              - {engine: log, path: "$ROOT/hook.log", events: [verify_error, backup_success], append: true}
            """)
        return sandbox
    }

    @Test func eachKindOfBackupPointIsCheckedWhereItIsStoredAndDamageIsReported() throws {
        let hasRestic = try Sandbox.shell("command -v restic").status == 0
        if !hasRestic && ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("restic is missing: apt-get install restic") }
        let sandbox = try Self.sandbox(restic: hasRestic)
        let points = ["tarball", "mirror", "history"] + (hasRestic ? ["vault"] : [])
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        for point in points { #expect(first.stdout.contains("succeeded    verify:\(point)/site"), "\(point): \(first.stdout)") }
        let checks = try sandbox.query("SELECT CAST(value AS TEXT) FROM engine_state WHERE namespace = 'verify' AND key = 'verify:tarball/site'")
        #expect(checks.first?.contains("SHA-256 matches") == true && checks.first?.contains("matches every file") == true, "\(checks)")
        // Weekly by default: the next apply does not verify again; `verify` does, whatever the frequency.
        let again = try sandbox.apply()
        #expect(again.stdout.contains("skipped      verify:tarball/site"), "\(again.stdout)")
        let byHand = try sandbox.run("verify")
        #expect(byHand.status == 0, "\(byHand.stdout)\(byHand.stderr)")
        #expect(byHand.stdout.contains("succeeded    verify:history/site") && !byHand.stdout.contains("succeeded    upload:"), "\(byHand.stdout)")

        // Damage at each backup point, made behind polyarchiv's back.
        let archive = sandbox.path("backups/site.tar.zst")
        #expect(try Sandbox.shell("printf 'X' | dd of='\(archive)' bs=1 seek=200 conv=notrunc 2>/dev/null").status == 0)
        try sandbox.write("mirror/site/www/index.html", "<h1>defaced</h1>\n")
        #expect(try Sandbox.shell("cd '\(sandbox.path("remote/site.git"))' && for f in $(find objects -type f); do chmod u+w $f; "
                                  + "printf 'garbage' | dd of=$f bs=1 seek=40 conv=notrunc 2>/dev/null; done").status == 0)
        if hasRestic {
            #expect(try Sandbox.shell("cd '\(sandbox.path("repo"))/data' && for f in $(find . -type f); do chmod u+w $f; "
                                      + "printf 'garbage' | dd of=$f bs=1 seek=40 conv=notrunc 2>/dev/null; done").status == 0)
        }
        let metrics = sandbox.path("metrics.prom")
        let damaged = try sandbox.run("verify", ["--metrics-file", metrics])
        #expect(damaged.status == 2, "\(damaged.stdout)\(damaged.stderr)")
        for point in points { #expect(damaged.stdout.contains("failed       verify:\(point)/site"), "\(point): \(damaged.stdout)") }
        #expect(damaged.stdout.contains("does not match its recorded SHA-256"), "\(damaged.stdout)")
        #expect(damaged.stdout.contains("www/index.html"), "the mirror's changed file is named: \(damaged.stdout)")
        let check = try sandbox.run("check")
        #expect(check.status == 2, "\(check.stdout)")
        #expect(check.stdout.contains("tarball/site verify: the stored backup failed its verification"), "\(check.stdout)")
        let prometheus = try String(contentsOfFile: metrics, encoding: .utf8)
        #expect(prometheus.contains("polyarchiv_up{kind=\"verify\",name=\"tarball/site\"} 0"), "\(prometheus)")
        let hooks = try String(contentsOfFile: sandbox.path("hook.log"), encoding: .utf8)
        #expect(hooks.contains("verify_error KO"), "\(hooks)")
        // A verification alone is no backup: backup_success came from the two applies only.
        #expect(hooks.components(separatedBy: "backup_success").count - 1 == 2, "\(hooks)")
    }

    /// A backup found damaged is uploaded again by the next apply (and verified again), whatever the cache and
    /// the verification's frequency say; `plan` says so beforehand; once it verifies, the cache holds again.
    @Test func aBackupThatFailedItsVerificationIsUploadedAgainByTheNextApply() throws {
        let sandbox = try Self.sandbox(restic: false)
        #expect(try sandbox.apply().status == 0)
        let archive = sandbox.path("backups/site.tar.zst")
        let good = try Sandbox.shell("sha256sum '\(archive)'").output
        #expect(try Sandbox.shell("printf 'X' | dd of='\(archive)' bs=1 seek=200 conv=notrunc 2>/dev/null").status == 0)
        try sandbox.write("mirror/site/www/index.html", "<h1>defaced</h1>\n")
        #expect(try sandbox.run("verify").status == 2)

        let plan = try sandbox.run("plan")
        for point in ["tarball", "mirror"] {
            #expect(plan.stdout.contains("upload:\(point)/site") && plan.stdout.contains("failed its verification"), "\(point): \(plan.stdout)")
        }
        let healed = try sandbox.apply()
        #expect(healed.status == 0, "\(healed.stdout)\(healed.stderr)")
        for point in ["tarball", "mirror"] {
            #expect(healed.stdout.contains("succeeded    upload:\(point)/site"), "\(point): \(healed.stdout)")
            #expect(healed.stdout.contains("succeeded    verify:\(point)/site"), "verified again at once: \(healed.stdout)")
        }
        #expect(try Sandbox.shell("sha256sum '\(archive)'").output == good)
        #expect(try String(contentsOfFile: sandbox.path("mirror/site/www/index.html"), encoding: .utf8) == "<h1>home</h1>\n")
        // Healed: the uploads are cached again and the weekly verification waits its turn.
        let after = try sandbox.apply()
        #expect(after.stdout.contains("cached       upload:tarball/site") && after.stdout.contains("skipped      verify:tarball/site"), "\(after.stdout)")
    }

    @Test func verifyCanBeTurnedOffOrGivenItsOwnFrequency() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/a", "a\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              quiet: {engine: archive, url: "file://$ROOT/b1/{name}.tar.gz", verify: false}
              daily: {engine: archive, url: "file://$ROOT/b2/{name}.tar.gz", verify_frequency: always}
            """)
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)")
        #expect(!first.stdout.contains("verify:quiet/site"), "\(first.stdout)")
        #expect(try sandbox.apply().stdout.contains("succeeded    verify:daily/site"))
    }
}
