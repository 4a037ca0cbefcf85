import ArgumentParser
import Foundation
import Pipeline
import Planner

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "The backups each backup point holds, newest first, read from their metadata documents.",
        discussion: """
            Needs only the configuration: the list comes from the backup points, not from local state.

            Example:
              polyarchiv list -C /etc/polyarchiv --collect-point www
            """)

    @OptionGroup var config: ConfigOptions

    @Option(help: "Only this collect point.")
    var collectPoint: String?

    @Option(help: "Only this backup point.")
    var backupPoint: String?

    @Option(help: ArgumentHelp("The backups this host made (default: this one) at backup points several hosts share.", valueName: "name"))
    var host: String?

    @Flag(help: "Print the listing as JSON.")
    var json = false

    struct JSONBackup: Encodable {
        let backupPoint: String
        let collectPoint: String
        let created: String
        let size: Int64?
        let sha256: String?
        let location: String
        let host: String?
        /// Why it may not be used (its signature), when it may not.
        let refused: String?
        enum CodingKeys: String, CodingKey {
            case created, size, sha256, location, host, refused, backupPoint = "backup_point", collectPoint = "collect_point"
        }
    }

    struct JSONListing: Encodable {
        let backupPoint: String
        let collectPoint: String
        let place: String
        let otherHosts: [String: Int]
        enum CodingKeys: String, CodingKey {
            case place, backupPoint = "backup_point", collectPoint = "collect_point", otherHosts = "other_hosts"
        }
    }

    func run() throws {
        let pipeline = try config.compile()
        do {
            let formatter = ISO8601DateFormatter()
            let listings = try Restore.list(pipeline, collectPoint: collectPoint, backupPoint: backupPoint, host: host, secrets: config.secrets)
            if json {
                for listing in listings {
                    Terminal.print(JSONText.line("backup_point", JSONListing(backupPoint: listing.backupPoint, collectPoint: listing.collectPoint,
                                                                             place: listing.place, otherHosts: listing.otherHosts)))
                    for backup in listing.backups {
                        Terminal.print(JSONText.line("backup", JSONBackup(backupPoint: listing.backupPoint, collectPoint: listing.collectPoint,
                                                                          created: formatter.string(from: backup.created), size: backup.size,
                                                                          sha256: backup.digest?.hex,
                                                                          location: Redaction.maskingURLSecrets(backup.location), host: backup.host,
                                                                          refused: backup.refused)))
                    }
                }
                return
            }
            var text = ""
            for listing in listings {
                text += "\(listing.backupPoint) ← \(listing.collectPoint) (\(listing.place))\n"
                if listing.backups.isEmpty { text += "  no backup yet" + (host.map { " by \($0)" } ?? "") + "\n" }
                for backup in listing.backups {
                    text += "  \(formatter.string(from: backup.created))"
                    if let size = backup.size { text += "  \(RunOutput.bytes(size))" }
                    if let digest = backup.digest { text += "  \(digest.short)" }
                    text += "  " + TerminalText.escaped(Redaction.maskingURLSecrets(backup.location))
                    if let refused = backup.refused { text += "  REFUSED: \(refused)" }
                    text += "\n"
                }
                if !listing.otherHosts.isEmpty {
                    // Host names come from the documents at the backup point: escaped like every name a terminal shows.
                    let others = listing.otherHosts.sorted { $0.key < $1.key }.map { "\(TerminalText.escaped($0.key)) (\($0.value))" }
                    text += "  other hosts' backups here: " + others.joined(separator: ", ") + "; see them with --host\n"
                }
            }
            Terminal.print(text)
        } catch let failure as StageFailure {
            Terminal.error("polyarchiv: \(failure)")
            throw ExitCode(1)
        }
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore the newest (or --at) backup of each collect point into --target.",
        discussion: """
            Works on a fresh machine with only the configuration: the backups are found through the metadata \
            documents beside them. Each collect point is restored into TARGET/<collect point>, which must be \
            new or empty; the archive is checked against its recorded SHA-256 and the hashes index (if any) \
            against the restored files. Encryption is undone with the encrypt filter's passphrase or identity_file, \
            or --identity. --in-place --yes puts every source back where it came from, one after the other: files at their \
            own paths (what is there is moved aside, never deleted), then databases (one that holds tables, or a \
            whole-server dump, only with --replace), LDAP, SQLite files (an existing file only with --replace), mail and \
            commands; one that fails does not stop the others, and the summary has a line for each.
            Exit status: 0 restored, 2 something could not be restored, 3 only a restore hook failed.

            Example:
              polyarchiv restore -C /etc/polyarchiv --collect-point www --target /srv/restore
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var state: StateOptions

    @Option(help: "Where to restore (each collect point in a subdirectory).")
    var target: String?

    @Flag(help: "Also put every source back where it came from: files at their paths (what is there is renamed aside, never deleted), databases, LDAP, SQLite, mail, commands (needs --yes).")
    var inPlace = false

    @Flag(help: "Confirm --in-place.")
    var yes = false

    @Option(help: "Only this collect point.")
    var collectPoint: String?

    @Option(name: .customLong("from"), help: "Only from this backup point.")
    var backupPoint: String?

    @Option(help: ArgumentHelp("age identity file (AGE-SECRET-KEY-1…) that opens data encrypted to recipients.", valueName: "file"))
    var identity: String?

    @Flag(help: "From the collect point itself: a git collect point's newest commit (or the newest at or before --at), an archive collect point's archive.")
    var fromCollectPoint = false

    @Option(help: ArgumentHelp("This commit of a git collect point (implies --from-collect-point).", valueName: "id"))
    var commit: String?

    @Option(name: .customLong("source"), help: ArgumentHelp(
        "Also put this source back where it came from: a database (created when missing), the LDAP server, "
        + "the file given with --into (sqlite), the restore_command (command). Repeatable.", valueName: "name"))
    var sources: [String] = []

    @Option(help: ArgumentHelp("Put the source into this instead: another database name, a file, an ldap:// URL.", valueName: "target"))
    var into: String?

    @Flag(help: "Allow putting a source into a database (or file) that is not empty, and replaying whole-server dumps.")
    var replace = false

    @Option(help: ArgumentHelp("Restore what this host made (default: this one) from backup points several hosts share.", valueName: "name"))
    var host: String?

    @Flag(help: "Show what would be fetched (from which backup point and date), where it would go and what would be put back; restore nothing.")
    var dryRun = false

    @Flag(help: "Print what was restored as JSON (failures still go to standard error, one line each).")
    var json = false

    struct RestoreJSON: Encodable {
        struct Restored: Encodable {
            let collectPoint: String
            let from: String
            let created: String
            let directory: String
            let verified: [String]
            let sources: [String]
            let refused: [String]
            enum CodingKeys: String, CodingKey { case from, created, directory, verified, sources, refused, collectPoint = "collect_point" }
        }
        let exitCode: Int
        let interrupted: Bool
        let scratch: String?
        let restored: [Restored]
        enum CodingKeys: String, CodingKey { case interrupted, scratch, restored, exitCode = "exit_code" }
    }

    @Option(name: .customLong("path"), help: ArgumentHelp(
        "Restore only the paths this pattern matches (as exclude patterns: `*.conf` at any depth, `site/img/` from the "
        + "collect point's root, `**` across directories). Repeatable; goes with --target.", valueName: "glob"))
    var paths: [String] = []

    @Flag(help: "Keep setuid and setgid bits of restored files (cleared by default; directories keep setgid).")
    var keepSpecialBits = false

    @Option(help: "The newest backup at or before this date (2026-11-27 or 2026-11-27T03:00:00Z).")
    var at: String?

    func validate() throws {
        if (fromCollectPoint || commit != nil) && backupPoint != nil {
            throw ValidationError("--from names a backup point; --from-collect-point and --commit restore from the collect point itself")
        }
        if commit != nil && collectPoint == nil { throw ValidationError("--commit needs --collect-point") }
        if inPlace && !yes { throw ValidationError("--in-place replaces live files (they are moved aside, not deleted): add --yes") }
        if target == nil && !inPlace { throw ValidationError("give --target DIR (or --in-place --yes)") }
        if !sources.isEmpty && collectPoint == nil { throw ValidationError("--source needs --collect-point") }
        if into != nil && sources.isEmpty { throw ValidationError("--into goes with --source") }
        if replace && sources.isEmpty && !inPlace { throw ValidationError("--replace goes with --source or --in-place") }
        if into != nil && sources.count > 1 { throw ValidationError("--into goes with a single --source") }
        if !paths.isEmpty && (inPlace || !sources.isEmpty) {
            throw ValidationError("--path restores part of a collect point into --target; --in-place and --source put whole sources back")
        }
        if commit != nil && at != nil { throw ValidationError("--commit and --at both choose the commit: give one") }
    }

    func run() async throws {
        let pipeline = try config.compile()
        let date = try at.map { try BrowseOptions.date($0, "--at") }
        var scratch: String?
        if target == nil {
            scratch = NSTemporaryDirectory() + "polyarchiv-restore-" + UUID().uuidString
        }
        var request = Restore.Request(target: target ?? scratch!)
        request.inPlace = inPlace
        request.collectPoint = collectPoint
        request.backupPoint = backupPoint
        request.at = date
        request.identityFile = identity
        request.fromCollectPoint = fromCollectPoint || commit != nil
        request.commit = commit
        request.sources = sources
        request.into = into
        request.replace = replace
        request.keepSpecialBits = keepSpecialBits
        request.host = host
        request.paths = paths
        do {
            try Restore.check(pipeline, collectPoint: collectPoint, backupPoint: backupPoint)
        } catch {
            Terminal.error("polyarchiv: \(error)")
            throw ExitCode(ExitStatus.configuration)
        }
        if dryRun {
            do {
                Terminal.print(try Restore.preview(pipeline, request, secrets: config.secrets).joined(separator: "\n") + "\n")
            } catch {
                Terminal.error("polyarchiv: \(error)")
                throw ExitCode(ExitStatus.failed)
            }
            return
        }
        let cancellation = CancellationFlag()
        SignalWatcher.install(cancelling: cancellation)
        let report: Restore.Report
        do {
            report = try await Restore.run(pipeline, request, state: state.directory(for: pipeline), secrets: config.secrets, cancellation: cancellation) { event in
                if case .finished(let result) = event, result.outcome == .failed {
                    Terminal.error("polyarchiv: \(result.id) failed: \(result.detail ?? "")")
                }
            }
        } catch let failure as StageFailure {
            Terminal.error("polyarchiv: \(failure)")
            throw ExitCode(2)
        }
        if json {
            Terminal.print(JSONText.encode(RestoreJSON(exitCode: Int(report.exitCode), interrupted: report.interrupted,
                                                       scratch: report.outcomes.isEmpty ? nil : scratch, restored: report.outcomes.map {
                RestoreJSON.Restored(collectPoint: $0.collectPoint, from: $0.source, created: ISO8601DateFormatter().string(from: $0.created),
                                     directory: $0.directory, verified: $0.verifiedIndexes, sources: $0.sourceResults,
                                     refused: $0.refused)
            })))
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
            return
        }
        for outcome in report.outcomes {
            let created = ISO8601DateFormatter().string(from: outcome.created)
            var line = "restored \(outcome.collectPoint) from \(outcome.source) (\(created)) into \(outcome.directory)"
            if !outcome.verifiedIndexes.isEmpty { line += "; verified " + outcome.verifiedIndexes.joined(separator: ", ") }
            Terminal.print(line + "\n")
            for refused in outcome.refused {
                Terminal.error("polyarchiv: refused \(refused) in \(outcome.collectPoint): polyarchiv never writes one, so the backup point "
                               + "may have been tampered with; the rest was restored")
            }
            for result in outcome.sourceResults { Terminal.print("  " + result + "\n") }
            let failed = outcome.sourceResults.filter { $0.contains(": FAILED: ") }.count
            if outcome.sourceResults.count > 1 {
                Terminal.print("  \(outcome.sourceResults.count - failed) of \(outcome.sourceResults.count) sources put back"
                               + (failed > 0 ? "; \(failed) failed (the others are in place)" : "") + "\n")
            }
        }
        if let scratch, !report.outcomes.isEmpty { Terminal.print("the restored data is in \(scratch)\n") }
        if report.interrupted { Terminal.error("polyarchiv: the restore was interrupted; the sources above say where they stopped, the others were not touched") }
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}
