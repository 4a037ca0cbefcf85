import Foundation
import Pipeline
import Stages

/// `polyarchiv ls`, `find` and `diff`: what backups hold, read from the backup points. An archive's tree
/// comes from the manifest uploaded beside it and restic's from `restic ls`, so nothing big is downloaded;
/// other backups (git, a mirror, an encrypted archive) are fetched and opened in a private scratch directory.
public enum Browse {
    public struct Backup: Sendable {
        public let backupPoint: String
        public let collectPoint: String
        public let entry: CatalogEntry
    }

    public struct Found: Sendable {
        public let backup: Backup
        public let entry: Tree.Entry
    }

    public struct Difference: Sendable {
        public enum Change: String, Sendable { case added = "+", removed = "-", changed = "M" }
        public let change: Change
        public let path: String
        /// What changed, for `M` (size, mode, mtime, content, target).
        public let what: [String]
    }

    public struct Options: Sendable {
        public var collectPoint: String?
        public var backupPoint: String?
        public var host: String?
        public var identityFile: String?
        public init() {}
    }

    /// `ls [PATH]`: the entries at or under `path` in the newest backup (at or before `at`).
    public static func ls(_ pipeline: CompiledPipeline, _ options: Options, at: Date?, path: String?, secrets: Secrets) throws
        -> (Backup, [Tree.Entry]) {
        let collectPoint = try onlyCollectPoint(pipeline, options.collectPoint)
        let listings = try Restore.list(pipeline, collectPoint: collectPoint, backupPoint: options.backupPoint, host: options.host, secrets: secrets)
        let (backupPoint, entry) = try Restore.newest(of: collectPoint, in: listings, at: at, host: options.host ?? pipeline.host)
        let backup = Backup(backupPoint: backupPoint, collectPoint: collectPoint, entry: entry)
        let tree = try withContext(pipeline, options, secrets) { try self.tree(of: backup, pipeline, $0) }
        let prefix = (path ?? "").split(separator: "/").joined(separator: "/")
        guard !prefix.isEmpty else { return (backup, tree.entries) }
        let entries = tree.entries.filter { $0.path == prefix || $0.path.hasPrefix(prefix + "/") }
        guard !entries.isEmpty else {
            throw StageFailure("the backup of \(collectPoint) of \(ISO8601DateFormatter().string(from: entry.created)) holds no `\(prefix)`")
        }
        return (backup, entries)
    }

    /// `find GLOB…`: every backup that holds a matching path, newest first, with the matching entries.
    /// What `find` found, and the backups it could not search (each with why).
    public struct Search: Sendable {
        public let found: [Found]
        public let unsearched: [String]
    }

    public static func find(_ pipeline: CompiledPipeline, _ options: Options, patterns: [String], secrets: Secrets,
                            warn: @escaping @Sendable (String) -> Void = { _ in }) throws -> Search {
        let matcher = try PathPatterns(patterns)
        let listings = try Restore.list(pipeline, collectPoint: options.collectPoint, backupPoint: options.backupPoint, host: options.host,
                                        secrets: secrets)
        let backups = listings.flatMap { listing in
            listing.backups.map { Backup(backupPoint: listing.backupPoint, collectPoint: listing.collectPoint, entry: $0) }
        }.sorted { $0.entry.created > $1.entry.created }
        return try withContext(pipeline, options, secrets, warn: warn) { context in
            var found: [Found] = []
            var unsearched: [String] = []
            // One backup that cannot be read (its listing and the backup itself gone or damaged) costs only itself.
            for backup in backups {
                do {
                    found += try tree(of: backup, pipeline, context).entries.filter { matcher.matches($0.path, isDirectory: $0.kind == .directory) }
                        .map { Found(backup: backup, entry: $0) }
                } catch let error where !(error is CancellationFlag.Cancelled) {
                    unsearched.append("\(backup.backupPoint) ← \(backup.collectPoint) of \(ISO8601DateFormatter().string(from: backup.entry.created)): \(error)")
                }
            }
            return Search(found: found, unsearched: unsearched)
        }
    }

    /// `diff [A [B]]`: what changed from the backup at or before `older` to the one at or before `newer`; by
    /// default the two newest of the backup point that holds the newest backup of the collect point.
    public static func diff(_ pipeline: CompiledPipeline, _ options: Options, older: Date?, newer: Date?, secrets: Secrets,
                            warn: @escaping @Sendable (String) -> Void = { _ in }) throws
        -> (Backup, Backup, [Difference]) {
        let collectPoint = try onlyCollectPoint(pipeline, options.collectPoint)
        let listings = try Restore.list(pipeline, collectPoint: collectPoint, backupPoint: options.backupPoint, host: options.host, secrets: secrets)
        let (backupPoint, newest) = try Restore.newest(of: collectPoint, in: listings, at: newer, host: options.host ?? pipeline.host)
        guard let listing = listings.first(where: { $0.backupPoint == backupPoint }) else { throw StageFailure("no backup point holds \(collectPoint)") }
        let candidates = listing.backups.filter { $0.created < newest.created && (older == nil || $0.created <= older!) }
        guard let earlier = candidates.first else {
            throw StageFailure("\(backupPoint) holds no backup of \(collectPoint) before \(ISO8601DateFormatter().string(from: newest.created)) to compare with")
        }
        let a = Backup(backupPoint: backupPoint, collectPoint: collectPoint, entry: earlier)
        let b = Backup(backupPoint: backupPoint, collectPoint: collectPoint, entry: newest)
        let (before, after) = try withContext(pipeline, options, secrets, warn: warn) { context in
            (try tree(of: a, pipeline, context), try tree(of: b, pipeline, context))
        }
        return (a, b, compare(before, after))
    }

    static func compare(_ before: Tree, _ after: Tree) -> [Difference] {
        let old = Dictionary(before.entries.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        let new = Dictionary(after.entries.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        var differences: [Difference] = []
        for path in Set(old.keys).union(new.keys).sorted() {
            switch (old[path], new[path]) {
            case (nil, _?): differences.append(Difference(change: .added, path: path, what: []))
            case (_?, nil): differences.append(Difference(change: .removed, path: path, what: []))
            case let (a?, b?):
                var what: [String] = []
                if a.kind != b.kind { what.append("kind") }
                if a.size != b.size { what.append("size") }
                if let x = a.digest, let y = b.digest, x != y { what.append("content") }
                if a.mode != b.mode { what.append("mode") }
                if a.target != b.target { what.append("target") }
                if a.kind == .file && a.mtime != b.mtime { what.append("mtime") }
                if !what.isEmpty { differences.append(Difference(change: .changed, path: path, what: what)) }
            default: break
            }
        }
        return differences
    }

    /// The backup's tree: its stored listing, or the backup fetched and opened.
    static func tree(of backup: Backup, _ pipeline: CompiledPipeline, _ context: RestoreContext) throws -> Tree {
        guard let pair = pipeline.backup(backup.backupPoint, backup.collectPoint) else {
            throw StageFailure("backup point \(backup.backupPoint) does not receive \(backup.collectPoint)")
        }
        do {
            if let stored = try pair.engine.storedTree(backup.entry, context) { return stored }
        } catch let error as StageFailure {
            // The listing beside it is gone or damaged: the backup itself says what it holds.
            context.warn("the listing of \(backup.backupPoint) ← \(backup.collectPoint) of \(ISO8601DateFormatter().string(from: backup.entry.created)) "
                         + "cannot be read (\(error)); the backup itself is read instead")
        }
        let scratch = context.scratch + "/" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: scratch + "/fetched", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let fetched = try pair.engine.fetch(backup.entry, into: scratch + "/fetched", context)
        let opener = BackupOpener(shipsArchive: pair.engine.shape.archive != nil, backupPointFilters: pair.filters.map { $0.engine },
                                  collectPointFilters: pipeline.collects[backup.collectPoint]?.filters.map { $0.engine } ?? [])
        let opened = try opener.open(fetched, in: scratch, context)
        guard let directory = opened.directory else {
            throw StageFailure("the backups at \(backup.backupPoint) are encrypted and keep no listing in clear: give the identity with --identity FILE")
        }
        // Hashed: without a listing, a same-size change is known only by its content.
        return try TreeListing.walk(directory, hashing: true)
    }

    private static func withContext<T>(_ pipeline: CompiledPipeline, _ options: Options, _ secrets: Secrets,
                                       warn: @escaping @Sendable (String) -> Void = { _ in },
                                       _ body: (RestoreContext) throws -> T) throws -> T {
        let scratch = try ScratchDirectory("polyarchiv-browse")
        defer { scratch.remove() }
        var context = RestoreContext(secrets: secrets, cancellation: CancellationFlag(), identityFile: options.identityFile, scratch: scratch.path,
                                     warn: warn)
        context.host = options.host ?? pipeline.host
        return try body(context)
    }

    /// The collect point asked for, or the only one there is.
    static func onlyCollectPoint(_ pipeline: CompiledPipeline, _ asked: String?) throws -> String {
        if let asked {
            try Restore.check(pipeline, collectPoint: asked, backupPoint: nil)
            return asked
        }
        let names = pipeline.collectPoints.map(\.name)
        guard names.count == 1 else {
            throw StageFailure("name the collect point with --collect-point: " + names.joined(separator: ", "))
        }
        return names[0]
    }
}
