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
            guard let upload = pipeline.graph.node("upload:\(bp)/\(cp)"), let url = upload.parameters.string("metadata_url") else {
                continue
            }
            let document = try BackupMetadata.read(url)
            if let document, document.collectPoint != cp || document.backupPoint != bp {
                throw StageFailure("the metadata document \(url) describes \(document.backupPoint) ← \(document.collectPoint), "
                                   + "not \(bp) ← \(cp); give each pair its own metadata_url")
            }
            listings.append(Listing(backupPoint: bp, collectPoint: cp, metadataURL: url, backups: document?.sorted ?? []))
        }
        return listings
    }

    public struct Outcome: Sendable {
        public let collectPoint: String
        public let backupPoint: String
        public let backup: BackupMetadata.Backup
        public let directory: String
        public let entries: Int
        public let verifiedIndexes: [String]
    }

    /// Restores the newest backup (at or before `at`) of each chosen collect point into `target/<collect point>`.
    /// Hooks on restore events fire around it (global, collect point, backup point); a failing hook is
    /// passed to `hookFailed` and changes nothing else. The first collect point that cannot be restored stops it.
    public static func run(_ pipeline: CompiledPipeline, target: String, collectPoint: String?, backupPoint: String?, at: Date?,
                           identityFile: String? = nil, cancellation: CancellationFlag, hookFailed: @escaping (String) -> Void = { _ in }) throws -> [Outcome] {
        let hooks = RestoreHooks(pipeline: pipeline, cancellation: cancellation, failed: hookFailed)
        hooks.fire(.global, before: true, [])
        var outcomes: [Outcome] = []
        var failure: (label: String, error: String?)?
        do {
            let listings = try list(pipeline, collectPoint: collectPoint, backupPoint: backupPoint)
            for cp in collectPoint.map({ [$0] }) ?? pipeline.collectPoints.map(\.name) {
                hooks.fire(.collectPoint(cp), before: true, [])
                var chosen: String?
                do {
                    let (bp, backup) = try newest(of: cp, in: listings, at: at)
                    chosen = bp
                    hooks.fire(.backupPoint(bp), before: true, [])
                    outcomes.append(try restore(backup, of: cp, from: bp, into: target + "/" + cp, pipeline: pipeline,
                                                identityFile: identityFile, cancellation: cancellation))
                } catch {
                    failure = (chosen.map { "\($0) on \(cp)" } ?? cp, "\(error)")
                    if let chosen { hooks.fire(.backupPoint(chosen), before: false, [failure!]) }
                    hooks.fire(.collectPoint(cp), before: false, [failure!])
                    throw error
                }
                hooks.fire(.backupPoint(chosen!), before: false, [("\(chosen!) on \(cp)", nil)])
                hooks.fire(.collectPoint(cp), before: false, [(cp, nil)])
            }
        } catch {
            hooks.fire(.global, before: false, outcomes.map { ($0.collectPoint, nil) } + [failure ?? ("restore", "\(error)")])
            throw error
        }
        hooks.fire(.global, before: false, outcomes.map { ($0.collectPoint, nil) })
        return outcomes
    }

    static func newest(of cp: String, in listings: [Listing], at: Date?) throws -> (String, BackupMetadata.Backup) {
        let candidates = listings.filter { $0.collectPoint == cp }.flatMap { listing in
            listing.backups.filter { at == nil || $0.created <= at! }.map { (listing.backupPoint, $0) }
        }
        guard let newest = candidates.max(by: { $0.1.created < $1.1.created }) else {
            throw StageFailure("no backup of collect point \(cp) found" + (at.map { " at or before \($0)" } ?? "")
                               + " in " + listings.filter { $0.collectPoint == cp }.map(\.metadataURL).joined(separator: ", "))
        }
        return newest
    }

    static func restore(_ backup: BackupMetadata.Backup, of cp: String, from bp: String, into directory: String,
                        pipeline: CompiledPipeline, identityFile: String?, cancellation: CancellationFlag) throws -> Outcome {
        let created = try prepareEmptyDirectory(directory)
        do {
            let archive = try BackupMetadata.localPath(backup.location)
            try verify(archive, digest: backup.digest)
            let reversal = FilterReversal(pipeline: pipeline, identityFile: identityFile)
            // The backup point's filters (an encrypted archive) are undone beside the target, then removed.
            let scratch = (directory as NSString).deletingLastPathComponent + "/.\(cp).polyarchiv-restore"
            defer { unlink(scratch) }
            let clear = try reversal.undoBackupPointFilters(archive, uploadID: "upload:\(bp)/\(cp)", scratch: scratch)
            let entries = try TarReader.extract(clear, into: directory, cancellation: cancellation)
            unlink(scratch)
            let indexes = try reversal.undoCollectPointFilters(in: directory, collectPoint: cp, cancellation: cancellation)
            return Outcome(collectPoint: cp, backupPoint: bp, backup: backup, directory: directory, entries: entries,
                           verifiedIndexes: indexes)
        } catch {
            // Nothing half-restored stays behind: the directory was empty (or new) before.
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

    /// The archive must be exactly what was uploaded.
    static func verify(_ path: String, digest: Digest) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StageFailure("the backup \(path) is missing or not readable")
        }
        defer { try? handle.close() }
        var hash = StreamingHash()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hash.update(chunk) }
        guard hash.finalize() == digest else {
            throw StageFailure("the backup \(path) does not match its recorded SHA-256 (\(digest.short)…): it is damaged; "
                               + "restore an older one with --at")
        }
    }
}
