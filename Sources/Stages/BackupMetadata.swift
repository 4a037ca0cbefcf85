import Foundation
import Pipeline

/// The document beside a backup point's backups that lists them, so a fresh machine with only the
/// configuration can list and restore: one per (backup point, collect point).
public struct BackupMetadata: Codable, Sendable {
    public struct Backup: Codable, Sendable {
        public let location: String
        public let digest: Digest
        public let size: Int64
        public let created: Date
        public let host: String
    }

    public var format = "polyarchiv-metadata 1"
    public let backupPoint: String
    public let collectPoint: String
    public var backups: [Backup]

    enum CodingKeys: String, CodingKey {
        case format, backups
        case backupPoint = "backup_point"
        case collectPoint = "collect_point"
    }

    /// Newest first.
    public var sorted: [Backup] { backups.sorted { $0.created > $1.created } }

    /// A local path for `file://` URLs and plain paths; other transports are not implemented yet.
    public static func localPath(_ url: String) throws -> String {
        if url.hasPrefix("file://") {
            let path = String(url.dropFirst("file://".count))
            return path.removingPercentEncoding ?? path
        }
        if url.hasPrefix("/") { return url }
        let scheme = url.components(separatedBy: "://").first ?? url
        throw StageFailure("reading \(scheme):// is not implemented yet; only file:// works for now")
    }

    /// The document at `url`, or nil when there is none yet.
    public static func read(_ url: String) throws -> BackupMetadata? {
        let path = try localPath(url)
        var info = stat()
        if stat(path, &info) != 0 && errno == ENOENT { return nil }
        // Anything but "does not exist" is an error: starting a new document would erase the history.
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StageFailure("cannot read the metadata document \(url) (\(FileIO.lastError)); it lists the backups of this point")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(BackupMetadata.self, from: data)
        } catch {
            throw StageFailure("the metadata document \(url) is damaged (\(error)); it lists the backups of this point")
        }
    }

    /// Adds (or replaces, by location) a backup and rewrites the document atomically.
    static func record(_ backup: Backup, at url: String, backupPoint: String, collectPoint: String) throws {
        var document = try read(url) ?? BackupMetadata(backupPoint: backupPoint, collectPoint: collectPoint, backups: [])
        document.backups.removeAll { $0.location == backup.location }
        document.backups.append(backup)
        document.backups.sort { $0.created < $1.created }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(document)
        let path = try localPath(url)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try AtomicFile.write(path) { sink in try data.withUnsafeBytes { try sink($0) } }
    }
}
