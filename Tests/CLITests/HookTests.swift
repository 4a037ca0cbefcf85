import Foundation
import Testing
import TestSupport

/// log and command hooks: events, status variables, and a failing hook never failing a good backup.
@Suite(.serialized) struct HookTests {
    func makeSandbox(command: String = "echo fine", hooks: String) throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              box:
                engine: files
                path: $ROOT/collect
                sources: {x: {engine: command, command: "\(command)"}}
                hooks:
            \(hooks)
            backup_points:
              out: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        return sandbox
    }

    @Test func logHookWritesTheStatusOfItsScope() throws {
        let sandbox = try makeSandbox(hooks: """
                  - {engine: log, path: "$ROOT/logs/{name}-{status}.log", events: [backup_success, backup_error]}
            """)
        // plan never fires a hook
        #expect(try CLI.run(["plan", "-c", sandbox.config, "--state-dir", sandbox.state]).status == 0)
        #expect(try sandbox.apply(["--dry-run"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("logs")))
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        let log = try String(contentsOfFile: sandbox.path("logs/box-OK.log"), encoding: .utf8)
        #expect(log.contains("backup_success OK"))
        #expect(log.contains("OK: box"))
        #expect(log.contains("succeeded collect:box"))
    }

    @Test func aFailureGivesKOAndTheErrorEvent() throws {
        let sandbox = try makeSandbox(command: "echo broken >&2; exit 4", hooks: """
                  - {engine: log, path: "$ROOT/hook.log", events: [backup_success, backup_error, after_backup], append: true}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 2)
        let log = try String(contentsOfFile: sandbox.path("hook.log"), encoding: .utf8)
        #expect(log.contains("backup_error KO"))
        #expect(log.contains("after_backup KO"))
        #expect(!log.contains("backup_success"))
        #expect(log.contains("KO: box"))
        #expect(log.contains("blocked collect:box"))
        // {complete_log} lists every stage of the scope, the failing dump with its error included.
        #expect(log.contains("failed dump:box/x: `echo broken >&2; exit 4` exited with status 4"), "\(log)")
    }

    /// `{complete_log}` of a collect point's hook lists each of its stages and how it ended, not only the
    /// collect; a backup point's lists its upload and the archive it ships.
    @Test func completeLogListsTheStagesOfTheScope() throws {
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              box:
                engine: files
                path: $ROOT/collect
                sources:
                  x: {engine: command, command: "echo fine"}
                  y: {engine: command, command: "echo also"}
                filters: [{engine: hashes}]
                hooks:
                  - {engine: command, events: [after_backup], command: 'printf %s "$POLYARCHIV_COMPLETE_LOG" > $ROOT/cp.log'}
            backup_points:
              out:
                engine: archive
                url: "file://$ROOT/backups/{name}.tar.gz"
                verify: false
                hooks:
                  - {engine: command, events: [after_backup], command: 'printf %s "$POLYARCHIV_COMPLETE_LOG" > $ROOT/bp.log'}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let collect = try String(contentsOfFile: sandbox.path("cp.log"), encoding: .utf8)
        #expect(collect == "succeeded dump:box/x\nsucceeded dump:box/y\nsucceeded filter:box/hashes\nsucceeded collect:box", "\(collect)")
        let backup = try String(contentsOfFile: sandbox.path("bp.log"), encoding: .utf8)
        #expect(backup.contains("succeeded archive:box/tar.gz\n") && backup.contains("succeeded upload:out/box"), "\(backup)")
        #expect(!backup.contains("dump:"), "\(backup)")
    }

    @Test func commandHookGetsTheVariablesInItsEnvironment() throws {
        let sandbox = try makeSandbox(hooks: """
                  - {engine: command, events: [before_backup, after_backup], command: "echo $POLYARCHIV_EVENT $POLYARCHIV_STATUS {name} >> $ROOT/events"}
            """)
        #expect(try sandbox.apply().status == 0)
        let events = try String(contentsOfFile: sandbox.path("events"), encoding: .utf8)
        #expect(events == "before_backup -- box\nafter_backup OK box\n")
    }

    /// A monitoring ping that cannot be sent before the backup (an unreachable healthchecks URL) costs no backup.
    @Test func aFailingBeforeHookNeverBlocksTheBackup() throws {
        let sandbox = try makeSandbox(hooks: """
                  - {engine: http, events: [before_backup], url: "http://127.0.0.1:9/ping", retries: 0, timeout: 5s}
                  - {engine: command, events: [before_backup], command: "exit 1"}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 3, "only hooks failed: \(run.stdout)")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("backups/box.tar.gz")), "the backup was made")
        #expect(run.stdout.contains("FAILED   notify:box/http/before"))
    }

    /// A command hook can be a precondition: `on_failure: abort` stops its scope's stages when it fails.
    @Test func aBeforeHookThatAbortsBlocksItsScope() throws {
        let sandbox = try makeSandbox(hooks: """
                  - {engine: command, events: [before_backup], command: "test -e $ROOT/mounted", on_failure: abort}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 2, "\(run.stdout)")
        #expect(run.stdout.contains("blocked  dump:box/x  (blocked by notify:box/command/before"), "\(run.stdout)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("backups/box.tar.gz")))
        try sandbox.write("mounted", "yes\n")
        #expect(try sandbox.apply().status == 0)
        #expect(FileManager.default.fileExists(atPath: sandbox.path("backups/box.tar.gz")))
    }

    @Test func aFailingHookIsReportedWithItsOwnExitCodeAndTheBackupStands() throws {
        let sandbox = try makeSandbox(hooks: """
                  - {engine: command, events: [after_backup], command: "echo hook trouble >&2; exit 1"}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 3, "\(run.stdout)")
        #expect(run.stdout.contains("FAILED   notify:box/command/after"))
        #expect(run.stdout.contains("hook trouble"))
        #expect(FileManager.default.fileExists(atPath: sandbox.path("backups/box.tar.gz")))
        let check = try CLI.run(["check", "--nrpe", "-c", sandbox.config, "--state-dir", sandbox.state])
        #expect(check.status == 0, "the backup itself is fine: \(check.stdout)")
    }
}
