import Foundation
import Pipeline
import Stages

/// `polyarchiv list` and `polyarchiv restore`: what the backup points hold, from their metadata
/// documents (no local state needed), and getting it back.
public enum Restore {
    public struct Listing: Sendable {
        public let backupPoint: String
        public let collectPoint: String
        public let metadataURL: String
        public let backups: [BackupMetadata.Backup]
    }

    /// Every (backup point, collect point) pair with its backups, newest first.
    public static func list(_ pipeline: CompiledPipeline, collectPoint: String?, backupPoint: String?) throws -> [Listing] {
        var listings: [Listing] = []
        for (bp, cp) in pipeline.associations {
            if let collectPoint, collectPoint != cp { continue }
            if let backupPoint, backupPoint != bp { continue }
            guard let upload = pipeline.graph.node("upload:\(bp)/\(cp)") else { continue }
            if let url = upload.parameters.string("metadata_url"),
               let document = try BackupMetadata.read(url, parameters: upload.parameters),
               document.collectPoint != cp || document.backupPoint != bp {
                throw StageFailure("the metadata document \(Redaction.maskingURLPassword(url)) describes \(document.backupPoint) ← \(document.collectPoint), "
                                   + "not \(bp) ← \(cp); give each pair its own metadata_url")
            }
            guard let (place, backups) = try BackupCatalog.backups(upload, cancellation: CancellationFlag()) else { continue }
            // Newest first; the catalogs list oldest first, so equal times keep their order reversed.
            listings.append(Listing(backupPoint: bp, collectPoint: cp, metadataURL: Redaction.maskingURLPassword(place),
                                    backups: Array(backups.reversed()).enumerated().sorted { ($0.element.created, -$0.offset) > ($1.element.created, -$1.offset) }.map(\.element)))
        }
        return listings
    }

    public struct Outcome: Sendable {
        public let collectPoint: String
        /// Where it came from: a backup point, or `git commit ID` of the collect point itself.
        public let source: String
        public let created: Date
        public let directory: String
        public let entries: Int
        public let verifiedIndexes: [String]
        /// What putting sources back did (`--source`), a line each.
        public var sourceResults: [String] = []
    }

    /// What to restore: `target/<collect point>` receives each chosen collect point.
    public struct Request: Sendable {
        public var target: String
        public var collectPoint: String?
        public var backupPoint: String?
        /// The newest backup (or commit) at or before this date.
        public var at: Date?
        /// Opens data encrypted to age recipients.
        public var identityFile: String?
        /// From a git collect point's own history instead of a backup point; `commit` picks one.
        public var fromCollectPoint = false
        public var commit: String?
        /// Sources to put back where they came from (a database, a file…), from the restored data.
        public var sources: [String] = []
        /// Where they go instead of their own place (a database name, a file).
        public var into: String?
        /// Put them back into a target that is not empty.
        public var replace = false
        /// Put every `files` source back at its own path (what is there moves aside, nothing is deleted).
        public var inPlace = false

        public init(target: String) { self.target = target }
    }

    /// Restores each chosen collect point. Hooks on restore events fire around it (global, collect point,
    /// backup point); a failing hook is passed to `hookFailed` and changes nothing else. The first
    /// collect point that cannot be restored stops it.
    public static func run(_ pipeline: CompiledPipeline, _ request: Request, cancellation: CancellationFlag,
                           hookFailed: @escaping (String) -> Void = { _ in }) throws -> [Outcome] {
        let hooks = RestoreHooks(pipeline: pipeline, cancellation: cancellation, failed: hookFailed)
        hooks.fire(.global, before: true, [])
        var outcomes: [Outcome] = []
        var failure: (label: String, error: String?)?
        do {
            let listings = request.fromCollectPoint ? [] : try list(pipeline, collectPoint: request.collectPoint,
                                                                    backupPoint: request.backupPoint)
            for cp in request.collectPoint.map({ [$0] }) ?? pipeline.collectPoints.map(\.name) {
                hooks.fire(.collectPoint(cp), before: true, [])
                var chosen: String?
                let directory = request.target + "/" + cp
                do {
                    if request.fromCollectPoint {
                        outcomes.append(try restoreFromCollectPoint(cp, into: directory, pipeline: pipeline, request: request,
                                                               cancellation: cancellation))
                    } else {
                        let (bp, backup) = try newest(of: cp, in: listings, at: request.at)
                        chosen = bp
                        hooks.fire(.backupPoint(bp), before: true, [])
                        outcomes.append(try restore(backup, of: cp, from: bp, into: directory, pipeline: pipeline,
                                                    identityFile: request.identityFile, cancellation: cancellation))
                    }
                    if request.inPlace {
                        outcomes[outcomes.count - 1].sourceResults += try putBackInPlace(cp, from: directory, pipeline: pipeline)
                    }
                    if !request.sources.isEmpty {
                        outcomes[outcomes.count - 1].sourceResults = try restoreSources(request, of: cp, in: directory,
                                                                                        pipeline: pipeline, cancellation: cancellation)
                    }
                } catch {
                    failure = (chosen.map { "\($0) on \(cp)" } ?? cp, "\(error)")
                    if let chosen { hooks.fire(.backupPoint(chosen), before: false, [failure!]) }
                    hooks.fire(.collectPoint(cp), before: false, [failure!])
                    throw error
                }
                if let chosen { hooks.fire(.backupPoint(chosen), before: false, [("\(chosen) on \(cp)", nil)]) }
                hooks.fire(.collectPoint(cp), before: false, [(cp, nil)])
            }
        } catch {
            hooks.fire(.global, before: false, outcomes.map { ($0.collectPoint, nil) } + [failure ?? ("restore", "\(error)")])
            throw error
        }
        hooks.fire(.global, before: false, outcomes.map { ($0.collectPoint, nil) })
        return outcomes
    }

    /// Every `files` source of `cp` moved from the restored data to its own path; what was at that path is
    /// renamed aside (`PATH.polyarchiv-before-restore-DATE`), never deleted.
    static func putBackInPlace(_ cp: String, from directory: String, pipeline: CompiledPipeline) throws -> [String] {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let stamp = formatter.string(from: Date())
        var lines: [String] = []
        for node in pipeline.graph.nodes where node.kind == .dump && node.collectPoint == cp {
            guard node.engine == "files", let original = node.parameters.string("path") else {
                lines.append("\(node.id.split(separator: "/").last ?? "") (\(node.engine)) is not put in place: use --source")
                continue
            }
            let destination = (node.parameters.string("destination") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            let restored = directory + "/" + destination
            let target = original.hasSuffix("/") && original.count > 1 ? String(original.dropLast()) : original
            var aside: String?
            if FileManager.default.fileExists(atPath: target) {
                aside = target + ".polyarchiv-before-restore-" + stamp
                guard rename(target, aside!) == 0 else {
                    throw StageFailure("cannot move \(target) aside to put the backup in its place: \(FileIO.lastError) (nothing was changed)")
                }
            }
            if rename(restored, target) != 0 {
                // Another file system: copied beside the target under a temporary name, then renamed.
                let incoming = target + ".polyarchiv-restoring-" + stamp
                guard try TreeCopy.copy(restored, to: incoming), rename(incoming, target) == 0 else {
                    try? FileManager.default.removeItem(atPath: incoming)
                    let back = aside.map { rename($0, target) == 0 } ?? true
                    throw StageFailure("cannot put \(restored) at \(target) (out of space?); "
                                       + (back ? "the live data is back in place" : "the live data is at \(aside!)"))
                }
                try? FileManager.default.removeItem(atPath: restored)
            }
            lines.append("put back \(target)" + (aside.map { "; what was there is now \($0)" } ?? ""))
        }
        return lines
    }

    /// Each requested source of `cp` put back from the restored data in `directory`.
    static func restoreSources(_ request: Request, of cp: String, in directory: String, pipeline: CompiledPipeline,
                               cancellation: CancellationFlag) throws -> [String] {
        try request.sources.map { source in
            guard let node = pipeline.graph.node("dump:\(cp)/\(source)") else {
                let known = pipeline.graph.nodes.filter { $0.kind == .dump && $0.collectPoint == cp }.map { String($0.id.split(separator: "/").last!) }
                throw StageFailure("collect point \(cp) has no source \(source)" + Suggestion.didYouMean(source, among: known))
            }
            let destination = node.parameters.string("destination") ?? source
            let data = directory + "/" + (destination.hasSuffix("/") ? String(destination.dropLast()) : destination)
            return try SourceRestore.restore(node, .init(data: data, into: request.into, replace: request.replace), cancellation: cancellation)
        }
    }

    static func newest(of cp: String, in listings: [Listing], at: Date?) throws -> (String, BackupMetadata.Backup) {
        let candidates = listings.filter { $0.collectPoint == cp }.flatMap { listing in
            listing.backups.filter { at == nil || $0.created <= at! }.map { (listing.backupPoint, $0) }
        }
        // Newest first; between equal times (commits of the same second), the later in the backup point's list.
        guard let newest = candidates.enumerated().max(by: { ($0.element.1.created, -$0.offset) < ($1.element.1.created, -$1.offset) })?.element else {
            throw StageFailure("no backup of collect point \(cp) found" + (at.map { " at or before \($0)" } ?? "")
                               + " in " + listings.filter { $0.collectPoint == cp }.map(\.metadataURL).joined(separator: ", "))
        }
        return newest
    }

    static func restore(_ backup: BackupMetadata.Backup, of cp: String, from bp: String, into directory: String,
                        pipeline: CompiledPipeline, identityFile: String?, cancellation: CancellationFlag) throws -> Outcome {
        if let upload = pipeline.graph.node("upload:\(bp)/\(cp)"), ["git", "gitlab", "restic", "synchronize"].contains(upload.engine) {
            return try intoEmptyDirectory(directory) {
                let entries = try BackupCatalog.fetchTree(upload, backup, into: directory, cancellation: cancellation)
                let reversal = FilterReversal(pipeline: pipeline, identityFile: identityFile)
                var indexes = try reversal.undoBackupPointTreeFilters(in: directory, uploadID: upload.id, cancellation: cancellation)
                indexes += try reversal.undoCollectPointFilters(in: directory, collectPoint: cp, cancellation: cancellation)
                return Outcome(collectPoint: cp, source: bp, created: backup.created, directory: directory, entries: entries,
                               verifiedIndexes: indexes)
            }
        }
        return try intoEmptyDirectory(directory) {
            // Downloaded beside the target and checked against the recorded SHA-256; the backup point's
            // filters (an encrypted archive) are undone there too; all of it removed afterwards.
            let scratch = (directory as NSString).deletingLastPathComponent + "/.\(cp).polyarchiv-restore"
            let archive = scratch + "-download"
            defer {
                unlink(scratch)
                unlink(archive)
            }
            let parameters = pipeline.graph.node("upload:\(bp)/\(cp)")?.parameters ?? Parameters()
            let digest = try BackupDownload.fetch(backup.location, parameters: parameters, to: archive, cancellation: cancellation)
            guard digest == backup.digest else {
                throw StageFailure("the backup \(Redaction.maskingURLPassword(backup.location)) does not match its recorded SHA-256 "
                                   + "(\(backup.digest.short)…): it is damaged; restore an older one with --at")
            }
            let reversal = FilterReversal(pipeline: pipeline, identityFile: identityFile)
            let clear = try reversal.undoBackupPointFilters(archive, uploadID: "upload:\(bp)/\(cp)", scratch: scratch)
            let entries = try TarReader.extract(clear, into: directory, cancellation: cancellation)
            unlink(scratch)
            let indexes = try reversal.undoCollectPointFilters(in: directory, collectPoint: cp, cancellation: cancellation)
            return Outcome(collectPoint: cp, source: bp, created: backup.created, directory: directory, entries: entries,
                           verifiedIndexes: indexes)
        }
    }

    /// From the collect point itself: a commit of a git collect point's repository, or an archive
    /// collect point's archive; then its filters undone.
    static func restoreFromCollectPoint(_ cp: String, into directory: String, pipeline: CompiledPipeline, request: Request,
                                        cancellation: CancellationFlag) throws -> Outcome {
        guard let collect = pipeline.graph.node("collect:\(cp)"), let path = collect.parameters.string("path") else {
            throw StageFailure("no collect point \(cp)")
        }
        let reversal = FilterReversal(pipeline: pipeline, identityFile: request.identityFile)
        switch collect.engine {
        case "git":
            return try intoEmptyDirectory(directory) {
                let commit = try GitHistory.checkout(repository: path, branch: collect.parameters.string("branch") ?? "main",
                                                     revision: request.commit, at: request.at, into: directory)
                let entries = FileManager.default.enumerator(atPath: directory)?.allObjects.count ?? 0
                let indexes = try reversal.undoCollectPointFilters(in: directory, collectPoint: cp, cancellation: cancellation)
                return Outcome(collectPoint: cp, source: "git commit \(commit.id.prefix(12)) of \(path)", created: commit.time,
                               directory: directory, entries: entries, verifiedIndexes: indexes)
            }
        case "archive" where request.commit == nil && request.at == nil:
            let archive = path + "/" + (collect.parameters.string("archive_name") ?? "")
            return try intoEmptyDirectory(directory) {
                var info = stat()
                guard stat(archive, &info) == 0 else { throw StageFailure("the collect point's archive \(archive) is missing") }
                let entries = try TarReader.extract(archive, into: directory, cancellation: cancellation)
                let indexes = try reversal.undoCollectPointFilters(in: directory, collectPoint: cp, cancellation: cancellation)
                return Outcome(collectPoint: cp, source: archive, created: Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec)),
                               directory: directory, entries: entries, verifiedIndexes: indexes)
            }
        default:
            throw StageFailure("collect point \(cp) (\(collect.engine)) keeps " + (collect.engine == "archive" ? "only its newest archive" : "no history")
                               + "; restore it from a backup point" + (collect.engine == "archive" ? " or without --at/--commit" : ""))
        }
    }

    /// Runs `body` on a new or empty `directory`; when it fails, nothing half-restored stays behind.
    static func intoEmptyDirectory(_ directory: String, _ body: () throws -> Outcome) throws -> Outcome {
        let created = try prepareEmptyDirectory(directory)
        do {
            return try body()
        } catch {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                try? FileManager.default.removeItem(atPath: directory + "/" + name)
            }
            if created { rmdir(directory) }
            throw error
        }
    }

    /// Restoring never overwrites: the target must be new or empty. Returns whether it was created.
    static func prepareEmptyDirectory(_ path: String) throws -> Bool {
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: path) {
            guard existing.isEmpty else {
                throw StageFailure("\(path) is not empty; restore into a new or empty directory (nothing was changed)")
            }
            return false
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return true
    }
}

/// `cp -a` for a tree that cannot be renamed across file systems.
enum TreeCopy {
    static func copy(_ source: String, to target: String) throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/cp")
        process.arguments = ["-a", "--", source, target]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
