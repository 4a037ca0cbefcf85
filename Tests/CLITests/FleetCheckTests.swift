import Foundation
import Testing
import TestSupport

/// `check --from-backup-points`: freshness read from the backup points, so a machine with only the
/// configurations (no journal) watches every host.
@Suite struct FleetCheckTests {
    @Test func freshnessComesFromTheBackupPointsNotTheJournal() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/a", "a\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz", frequency: daily}
              mirror: {engine: synchronize, url: "file://$ROOT/mirror/{name}"}
            """)
        #expect(try sandbox.apply().status == 0)
        // The watcher has the configuration and nothing else.
        try FileManager.default.removeItem(atPath: sandbox.state)
        let fresh = try CLI.run(["check", "-c", sandbox.config, "--from-backup-points"])
        #expect(fresh.status == 0, "\(fresh.stdout)\(fresh.stderr)")
        #expect(fresh.stdout.contains("OK: local/site: newest backup by \(Sandbox.host) "), "\(fresh.stdout)")
        #expect(fresh.stdout.contains("OK: mirror/site: newest backup"), "\(fresh.stdout)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.state), "the watcher writes no state")
        Thread.sleep(forTimeInterval: 2.1)
        let old = try CLI.run(["check", "-c", sandbox.config, "--from-backup-points", "--max-age", "1s", "--nrpe"])
        #expect(old.status == 1, "\(old.stdout)")
        #expect(old.stdout.hasPrefix("POLYARCHIV WARNING - local/site: overdue: the newest backup by \(Sandbox.host) is from "), "\(old.stdout)")
        let other = try CLI.run(["check", "-c", sandbox.config, "--from-backup-points", "--host", "web2"])
        #expect(other.status == 2)
        #expect(other.stdout.contains("CRITICAL: local/site: no backup by web2 in "), "\(other.stdout)")
        // The mirror is this host's (its mark says so): not web2's.
        #expect(other.stdout.contains("CRITICAL: mirror/site: no backup by web2 in "), "\(other.stdout)")
        // A backup point that cannot be reached is critical, with its reason.
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              gone: {engine: archive, url: "sftp://backup@127.0.0.1:1/srv/{name}.tar.gz", retries: 0}
            """)
        let unreachable = try CLI.run(["check", "-c", sandbox.config, "--from-backup-points"])
        #expect(unreachable.status == 2)
        #expect(unreachable.stdout.contains("CRITICAL: gone/site: cannot be read: "), "\(unreachable.stdout)")
        #expect(try CLI.run(["check", "-c", sandbox.config, "--host", "web2"]).status == 64, "--host goes with --from-backup-points")
    }
}
