import Foundation
import Testing
import TestSupport

/// `check` for the nagios user: `apply --status-file F --status-group G` writes what check judges, mode
/// 0640 in group G; a user of that group checks it without the journal or the configuration, another
/// user cannot read it, and a check that cannot read the journal says what to do.
@Suite struct MonitoringUserTests {
    @Test func aMonitoringUserInTheStatusGroupChecksWithoutTheJournal() throws {
        guard runsAsRoot("running commands as another user") else { return }
        let sandbox = try Sandbox()
        try sandbox.write("data/a", "a\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        let status = sandbox.path("status/polyarchiv.json")
        try FileManager.default.createDirectory(atPath: sandbox.path("status"), withIntermediateDirectories: true)
        let applied = try sandbox.apply(["--status-file", status, "--status-group", "nogroup"])
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        let attributes = try FileManager.default.attributesOfItem(atPath: status)
        #expect((attributes[.posixPermissions] as? Int) == 0o640)
        #expect((attributes[.groupOwnerAccountName] as? String) == "nogroup")
        // Everything on the way is traversable; the state directory stays the owner's.
        #expect(try Sandbox.shell("chmod 755 '\(sandbox.root.path)' '\(sandbox.path("status"))' && chmod 700 '\(sandbox.state)'").status == 0)
        let binary = CLI.binary.path
        func asNobody(_ group: String, _ arguments: String) throws -> (status: Int32, output: String) {
            try Sandbox.shell("setpriv --reuid=nobody --regid=\(group) --clear-groups '\(binary)' \(arguments) 2>&1")
        }
        let ok = try asNobody("nogroup", "check --status-file '\(status)'")
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.hasPrefix("POLYARCHIV OK - 3 point(s) OK"), "\(ok.output)")
        // The journal itself is not the monitoring user's to read: check says so, and what to use instead.
        let journal = try asNobody("nogroup", "check -c '\(sandbox.config)' --state-dir '\(sandbox.state)'")
        #expect(journal.status == 2, "\(journal.output)")
        #expect(journal.output.contains("cannot read the journal") && journal.output.contains("--status-file"), "\(journal.output)")
        // Outside the group, the file is not readable: UNKNOWN with the reason.
        let stranger = try asNobody("65000", "check --status-file '\(status)'")
        #expect(stranger.status == 3, "\(stranger.output)")
        #expect(stranger.output.contains("cannot read the status file"), "\(stranger.output)")
        // A failure reaches the status file too.
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/missing}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        #expect(try sandbox.apply(["--status-file", status, "--status-group", "nogroup"]).status == 2)
        let failed = try asNobody("nogroup", "check --status-file '\(status)' --nrpe")
        #expect(failed.status == 2, "\(failed.output)")
        #expect(failed.output.hasPrefix("POLYARCHIV CRITICAL - site: last run failed"), "\(failed.output)")
    }
}
