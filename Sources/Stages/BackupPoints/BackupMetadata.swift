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
        /// The backup's tree manifest beside it (`ls`, `find`, `diff` read it instead of the archive), and its
        /// SHA-256; none for an encrypted backup (its names are not left in clear).
        public var manifest: String? = nil
        public var manifestDigest: Digest? = nil
        /// Its size: a download stops there (documents of earlier versions have none: `manifestCeiling`).
        public var manifestSize: Int64? = nil
        /// Rows per table of each database dump it holds (by its path in the collect point), counted at dump
        /// time: what the restore drill compares with.
        public var rows: [String: [String: Int]]? = nil
        /// Until when S3 Object Lock keeps it (an `immutable` backup point): retention waits for that date.
        public var lockedUntil: Date? = nil
        /// The host's ed25519 signature of the entry (`signing_key`), and the public key that made it.
        public var signature: String? = nil
        public var signedBy: String? = nil

        public init(location: String, digest: Digest, size: Int64, created: Date, host: String, variables: [String: String]? = nil,
                    manifest: String? = nil, manifestDigest: Digest? = nil) {
            self.location = location
            self.digest = digest
            self.size = size
            self.created = created
            self.host = host
            self.variables = variables
            self.manifest = manifest
            self.manifestDigest = manifestDigest
        }

        var entry: CatalogEntry {
            var entry = CatalogEntry(location: location, digest: digest, size: size, created: created, host: host)
            if let manifest, let manifestDigest { entry.manifest = (manifest, manifestDigest, manifestSize ?? BackupDownload.manifestCeiling) }
            entry.rows = rows
            return entry
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

    /// The document at `url`, or nil when there is none yet.
    /// The document could not be fetched (not: it is damaged).
    struct Unreadable: Error, CustomStringConvertible {
        let url: String
        let underlying: any Error
        /// The server did not answer, as opposed to refusing or failing one request.
        var serverDidNotAnswer: Bool {
            if case .transient = underlying as? TransportError { return true }
            return false
        }
        var description: String {
            "cannot read the metadata document \(Redaction.maskingURLSecrets(url)) (\(underlying)); it lists the backups of this point"
        }
    }

    /// A document's bytes as a document (dates in ISO 8601).
    static func decode(_ data: Data) throws -> BackupMetadata {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(BackupMetadata.self, from: data)
    }

    static func read(_ url: String, options: TransportOptions, cancellation: CancellationFlag) throws -> BackupMetadata? {
        let transport = try Transports.make(url, options: options)
        // Anything but "does not exist" is an error: starting a new document would erase the history.
        let data: Data
        do {
            // An SFTP replacement interrupted between its two renames leaves the old document aside.
            guard let found = try transport.read(url, cancellation: cancellation)
                    ?? transport.read(url + SFTPTransport.previousSuffix, cancellation: cancellation) else { return nil }
            data = found
        } catch {
            throw Unreadable(url: url, underlying: error)
        }
        do {
            return try decode(data)
        } catch {
            throw StageFailure("the metadata document \(Redaction.maskingURLSecrets(url)) is damaged (\(error)); it lists the backups of this "
                               + "point: `polyarchiv repair BACKUP_POINT` rebuilds it from what the backup point holds")
        }
    }

    /// Adds (or replaces, by location) a backup and rewrites the document atomically.
    /// `known`: the backups this host's journal recorded there (a missing document is then an error).
    /// `existing`: the document as the caller found it (this host's, or its entries of a shared one).
    static func record(_ backup: Backup, at url: String, existing: BackupMetadata?, backupPoint: String, collectPoint: String,
                       known: [BackupRecords.Entry], options: TransportOptions, cancellation: CancellationFlag) throws {
        guard let existing else {
            if !known.isEmpty { throw missing(url, backupPoint: backupPoint, known: known) }
            try write(BackupMetadata(backupPoint: backupPoint, collectPoint: collectPoint, backups: [backup]), to: url, options: options,
                      cancellation: cancellation)
            return
        }
        try update(url, options: options, cancellation: cancellation, first: existing) { document in
            document.backups.removeAll { $0.location == backup.location }
            document.backups.append(backup)
        } holds: { document in document.backups.contains { $0.location == backup.location && $0.digest == backup.digest } }
    }

    /// Read, change, write, and read again: hosts sharing a backup point write the same document without a
    /// lock, so a change another host's write undid is made again (a few times, after a random pause). What
    /// is lost after that is found by the next run's check that the document lists its backup.
    static func update(_ url: String, options: TransportOptions, cancellation: CancellationFlag, first: BackupMetadata,
                       change: (inout BackupMetadata) -> Void, holds: (BackupMetadata) -> Bool) throws {
        var document = first
        for attempt in 1...5 {
            change(&document)
            try write(document, to: url, options: options, cancellation: cancellation)
            guard let reread = try read(url, options: options, cancellation: cancellation) else {
                throw StageFailure("the metadata document \(Redaction.maskingURLSecrets(url)) vanished right after it was written")
            }
            if holds(reread) { return }
            guard attempt < 5 else { break }
            try cancellation.check()
            usleep(UInt32.random(in: 50_000...400_000))
            document = reread
        }
        throw StageFailure("the metadata document \(Redaction.maskingURLSecrets(url)) keeps being rewritten by another writer; this "
                           + "change did not hold after 5 attempts (run again)")
    }

    /// A document that is gone where this host recorded backups is not a new backup point: an unmounted disk,
    /// a changed URL, or backups removed by hand. Starting a new document would hide every older backup
    /// from restore and retention, so nothing is written until the user says which.
    static func missing(_ url: String, backupPoint: String, known: [BackupRecords.Entry]) -> StageFailure {
        let newest = ISO8601DateFormatter().string(from: known[0].record.created)
        return StageFailure("the metadata document \(Redaction.maskingURLSecrets(url)) is missing, but this host recorded \(known.count) "
                            + "backup(s) there (the newest on \(newest)); if it is a disk, mount it; if those backups were removed on "
                            + "purpose, run `polyarchiv gc --forget-backups \(backupPoint)` to start a new history (nothing was uploaded)")
    }

    static func write(_ document: BackupMetadata, to url: String, options: TransportOptions, cancellation: CancellationFlag) throws {
        var document = document
        document.backups.sort { $0.created < $1.created }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let transport = try Transports.make(url, options: options)
        try transport.write(try encoder.encode(document), to: url, cancellation: cancellation)
    }
}

/// Getting a backup back from where a backup point put it.
enum BackupDownload {
    /// How large a listing recorded without its size (by an earlier version) may be.
    static let manifestCeiling: Int64 = 1 << 30

    /// Downloads `location` into `path` (written beside it, renamed when whole) and returns the SHA-256 of
    /// what arrived. The location comes from a document the backup point holds, so it is taken only as a
    /// file directly inside the backup point's own `directory` (same scheme, server and port: never another
    /// host with these credentials), and no more than `limit` bytes are taken (never a disk filled).
    static func fetch(_ location: String, within directory: String, limit: Int64, options: TransportOptions, to path: String,
                      cancellation: CancellationFlag) throws -> Digest {
        guard RemotePath.isDirectChild(location, of: directory) else {
            throw StageFailure("the metadata document names \(TerminalText.escaped(Redaction.maskingURLSecrets(location))), which is not a file "
                               + "in \(Redaction.maskingURLSecrets(directory)): refused (the backup point may have been tampered with)")
        }
        let transport = try Transports.make(location, options: options)
        var hash = StreamingHash()
        var received: Int64 = 0
        do {
            try AtomicFile.write(path) { sink in
                try transport.download(location, cancellation: cancellation) { chunk in
                    received += Int64(chunk.count)
                    guard received <= limit else {
                        throw StageFailure("\(Redaction.maskingURLSecrets(location)) is larger than the \(limit) bytes recorded for it: "
                                           + "it is damaged or was tampered with; the download was stopped")
                    }
                    hash.update(chunk)
                    try sink(chunk)
                }
            }
        } catch TransportError.missing {
            throw StageFailure("the backup \(Redaction.maskingURLSecrets(location)) is missing; restore an older one with --at")
        }
        return hash.finalize()
    }
}

/// What this host's journal knows each backup point holds (`backups` namespace): what a cache hit checks
/// is still there, and what tells an unmounted disk from a new backup point.
public struct BackupRecords {
    struct Record: Codable {
        let digest: Digest
        let size: Int64
        let created: Date
        /// False until the metadata document lists it (an upload whose document write failed is known, so
        /// retention may remove it, but does not prove the document existed).
        var listed: Bool? = nil
    }

    let table: StateTable

    init(_ journal: Journal) { table = journal.table("backups") }

    static func scope(_ backupPoint: String, _ collectPoint: String) -> String { backupPoint + "/" + collectPoint }

    func record(backupPoint: String, collectPoint: String, location: String, digest: Digest, size: Int64, at date: Date,
                listed: Bool = true) throws {
        try table.encode(Record(digest: digest, size: size, created: date, listed: listed), location, scope: Self.scope(backupPoint, collectPoint))
    }

    /// The backups a metadata document listed: where one was, it must still be.
    func listed(backupPoint: String, collectPoint: String) -> [Entry] {
        backups(backupPoint: backupPoint, collectPoint: collectPoint).filter { $0.record.listed != false }
    }

    typealias Entry = (location: String, record: Record)

    /// Newest first.
    func backups(backupPoint: String, collectPoint: String) -> [Entry] {
        let entries = (try? table.entries(scope: Self.scope(backupPoint, collectPoint))) ?? [:]
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return entries.compactMap { location, data in (try? decoder.decode(Record.self, from: data)).map { (location, $0) } }
            .sorted { $0.record.created > $1.record.created }
    }

    /// Forgets what this host recorded at a backup point (its backups there were removed on purpose).
    /// Returns how many backups were forgotten.
    public static func forget(backupPoint: String, in journal: Journal) throws -> Int {
        let table = journal.table("backups")
        var count = 0
        for scope in try table.scopes() where scope.hasPrefix(backupPoint + "/") {
            count += try table.entries(scope: scope).count
            try table.replace(scope: scope, with: [:])
        }
        return count
    }
}

/// A new backup, learnt by the journal and by the metadata document when there is one.
struct BackupRecorder: Sendable {
    let backupPoint: String
    let collectPoint: String
    private(set) var metadataURL: String?
    let variables: [String: String]
    private(set) var host: String
    let rowCountedDumps: [(stage: String, path: String)]

    /// The document all hosts shared before each got its own (read for this host's entries until its own
    /// exists; never written).
    let sharedMetadataURL: String?

    /// The same, for another host's backups (`polyarchiv prune --host`).
    func speaking(for host: String, metadataURL: String) -> BackupRecorder {
        var copy = self
        copy.host = host
        copy.metadataURL = metadataURL
        return copy
    }

    init(_ pair: Pair, metadataURL: String?, sharedMetadataURL: String? = nil) {
        backupPoint = pair.backupPoint
        collectPoint = pair.collectPoint
        self.metadataURL = metadataURL
        self.sharedMetadataURL = sharedMetadataURL
        variables = pair.variables
        host = pair.host
        rowCountedDumps = pair.rowCountedDumps
    }

    /// This host's document, or, until it exists, this host's entries of the shared one; nil when neither is there.
    func document(options: TransportOptions, cancellation: CancellationFlag) throws -> BackupMetadata? {
        guard let metadataURL else { return nil }
        if let own = try BackupMetadata.read(metadataURL, options: options, cancellation: cancellation) { return own }
        guard let sharedMetadataURL, var shared = try BackupMetadata.read(sharedMetadataURL, options: options, cancellation: cancellation)
        else { return nil }
        shared.backups.removeAll { $0.host != host }
        return shared.backups.isEmpty ? nil : shared
    }

    /// The row counts of the dumps this backup holds, recorded when they were made.
    func rows(in tree: Tree, _ journal: Journal) -> [String: [String: Int]]? {
        var rows: [String: [String: Int]] = [:]
        for (stage, path) in rowCountedDumps {
            let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
            guard let digest = tree.entries.first(where: { $0.path == trimmed })?.digest,
                  let counts = DumpRows.load(stage: stage, digest: digest, journal) else { continue }
            rows[trimmed] = counts
        }
        return rows.isEmpty ? nil : rows
    }

    /// Before an upload: the metadata document is still where this host recorded backups (see `missing`).
    func checkHistory(options: TransportOptions, context: StageContext) throws {
        guard let metadataURL else { return }
        let known = BackupRecords(context.journal).listed(backupPoint: backupPoint, collectPoint: collectPoint)
        if !known.isEmpty, try document(options: options, cancellation: context.cancellation) == nil {
            throw BackupMetadata.missing(metadataURL, backupPoint: backupPoint, known: known)
        }
    }

    func record(_ location: String, digest: Digest, size: Int64, options: TransportOptions, context: StageContext,
                manifest: (location: String, digest: Digest, size: Int64)? = nil, tree: Tree? = nil, lockedUntil: Date? = nil,
                signingKey: String? = nil) throws {
        let records = BackupRecords(context.journal)
        let known = records.listed(backupPoint: backupPoint, collectPoint: collectPoint)
        try records.record(backupPoint: backupPoint, collectPoint: collectPoint, location: location, digest: digest, size: size,
                           at: context.date, listed: metadataURL == nil)
        if let metadataURL {
            var backup = BackupMetadata.Backup(location: location, digest: digest, size: size, created: context.date, host: host,
                                               variables: variables, manifest: manifest?.location, manifestDigest: manifest?.digest)
            backup.manifestSize = manifest?.size
            backup.rows = tree.flatMap { rows(in: $0, context.journal) }
            backup.lockedUntil = lockedUntil
            if let signingKey {
                try BackupSignature.sign(&backup, with: try BackupSignature.loadPrivate(signingKey), backupPoint: backupPoint,
                                         collectPoint: collectPoint)
            }
            try BackupMetadata.record(backup, at: metadataURL, existing: try document(options: options, cancellation: context.cancellation),
                                      backupPoint: backupPoint, collectPoint: collectPoint, known: known, options: options,
                                      cancellation: context.cancellation)
            try records.record(backupPoint: backupPoint, collectPoint: collectPoint, location: location, digest: digest, size: size,
                               at: context.date)
        }
    }
}
