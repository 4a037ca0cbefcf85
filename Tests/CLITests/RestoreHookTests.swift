import Foundation
import Testing
import TestSupport

/// before_restore, restore_success and restore_error at global, collect point and backup point level.
@Suite(.serialized) struct RestoreHookTests {
    func makeSandbox() throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.write("data/a.txt", "a\n")
        let log = "command: \"echo {event} {status} {name} >> $ROOT/events\""
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                sources: {www: {engine: files, path: $ROOT/data}}
                hooks: [{engine: command, events: [before_restore, restore_success, restore_error], \(log)}]
            backup_points:
              local:
                engine: archive
                url: "file://$ROOT/backups/{name}.tar.gz"
                hooks: [{engine: command, events: [before_restore, restore_success, restore_error, before_backup], \(log)}]
            hooks:
              - {engine: command, events: [before_restore, restore_success, restore_error], \(log)}
              - {engine: log, path: "$ROOT/restore.log", events: [restore_success, restore_error]}
            """)
        return sandbox
    }

    func events(_ sandbox: Sandbox) -> String {
        (try? String(contentsOfFile: sandbox.path("events"), encoding: .utf8)) ?? ""
    }

    @Test func aRestoreFiresItsEventsInOrderAndABackupDoesNot() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        #expect(events(sandbox) == "before_backup -- local\n", "restore hooks never fire during a backup")
        try FileManager.default.removeItem(atPath: sandbox.path("events"))
        let run = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(events(sandbox) == """
            before_restore -- global
            before_restore -- site
            before_restore -- local
            restore_success OK local
            restore_success OK site
            restore_success OK global

            """)
        let log = try String(contentsOfFile: sandbox.path("restore.log"), encoding: .utf8)
        #expect(log.contains("restore_success OK"))
        #expect(log.contains("restored local on site"))
    }

    @Test func aFailedRestoreFiresTheErrorEventsWithTheReason() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        try FileManager.default.removeItem(atPath: sandbox.path("events"))
        try sandbox.write("restored/site/occupied", "x")
        let run = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(run.status == 2)
        #expect(events(sandbox) == """
            before_restore -- global
            before_restore -- site
            before_restore -- local
            restore_error KO local
            restore_error KO site
            restore_error KO global

            """)
        let log = try String(contentsOfFile: sandbox.path("restore.log"), encoding: .utf8)
        #expect(log.contains("KO: local on site"))
        #expect(log.contains("is not empty"))
    }

    @Test func aFailingRestoreHookExitsThreeAndTheDataIsRestored() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/a.txt", "a\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            hooks: [{engine: command, events: [restore_success], command: "exit 7"}]
            """)
        #expect(try sandbox.apply().status == 0)
        let run = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("exited with status 7 on restore_success"), "\(run.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("restored/site/www/a.txt"), encoding: .utf8) == "a\n")
    }
}
