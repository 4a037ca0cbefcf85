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
        /// The variables of the run ({name}, {Y}, user variables…), so a backup can be found by them.
        public var variables: [String: String]? = nil

        public init(location: String, digest: Digest, size: Int64, created: Date, host: String, variables: [String: String]? = nil) {
            self.location = location
            self.digest = digest
            self.size = size
            self.created = created
            self.host = host
            self.variables = variables
        }
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

    /// The document at `url`, or nil when there is none yet. `parameters` are the backup point's (credentials).
    /// `quick`: one attempt with a short connection timeout (for `plan`, which must not hang on a host).
    public static func read(_ url: String, parameters: Parameters, cancellation: CancellationFlag = CancellationFlag(),
                            quick: Bool = false) throws -> BackupMetadata? {
        var options = try TransportOptions(parameters)
        if quick {
            options.connectTimeout = 5
            options.retries = 0
        }
        let transport = try Transports.make(url, options: options)
        // Anything but "does not exist" is an error: starting a new document would erase the history.
        let data: Data
        do {
            // An SFTP replacement interrupted between its two renames leaves the old document aside.
            guard let found = try transport.read(url, cancellation: cancellation)
                    ?? transport.read(url + SFTPTransport.previousSuffix, cancellation: cancellation) else { return nil }
            data = found
        } catch {
            throw StageFailure("cannot read the metadata document \(Redaction.maskingURLPassword(url)) (\(error)); it lists the backups of this point")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(BackupMetadata.self, from: data)
        } catch {
            throw StageFailure("the metadata document \(Redaction.maskingURLPassword(url)) is damaged (\(error)); it lists the backups of this point")
        }
    }

    /// Adds (or replaces, by location) a backup and rewrites the document atomically.
    static func record(_ backup: Backup, at url: String, backupPoint: String, collectPoint: String, parameters: Parameters,
                       cancellation: CancellationFlag) throws {
        var document = try read(url, parameters: parameters, cancellation: cancellation)
            ?? BackupMetadata(backupPoint: backupPoint, collectPoint: collectPoint, backups: [])
        document.backups.removeAll { $0.location == backup.location }
        document.backups.append(backup)
        try write(document, to: url, parameters: parameters, cancellation: cancellation)
    }

    static func write(_ document: BackupMetadata, to url: String, parameters: Parameters, cancellation: CancellationFlag) throws {
        var document = document
        document.backups.sort { $0.created < $1.created }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let transport = try Transports.make(url, options: try TransportOptions(parameters))
        try transport.write(try encoder.encode(document), to: url, cancellation: cancellation)
    }
}

/// Getting a backup back from where a backup point put it.
public enum BackupDownload {
    /// Downloads `location` into `path` (written beside it, renamed when whole) and returns the SHA-256 of
    /// what arrived. `parameters` are the backup point's (credentials, keys).
    public static func fetch(_ location: String, parameters: Parameters, to path: String, cancellation: CancellationFlag) throws -> Digest {
        let transport = try Transports.make(location, options: try TransportOptions(parameters))
        var hash = StreamingHash()
        do {
            try AtomicFile.write(path) { sink in
                try transport.download(location, cancellation: cancellation) { chunk in
                    hash.update(chunk)
                    try sink(chunk)
                }
            }
        } catch TransportError.missing {
            throw StageFailure("the backup \(Redaction.maskingURLPassword(location)) is missing; restore an older one with --at")
        }
        return hash.finalize()
    }
}
