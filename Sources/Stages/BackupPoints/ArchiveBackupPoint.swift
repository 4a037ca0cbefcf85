import Foundation
import Pipeline

/// What an upload does when its URL already holds another backup.
enum SameName: String, CaseIterable, Sendable {
    case keepBoth = "keep_both", replace, refuse
}

/// `archive` backup point: one archive of the collect point per run, put at its URL through the URL's
/// transport (temporary name, verified, renamed), and recorded in the metadata document beside it.
struct ArchiveBackupPoint: BackupPointEngine {
    static let parameters: [ParameterSpec] = [
        ParameterSpec("url", .url, required: true,
                      "Where each archive goes (file://, sftp://, scp://, ftp(s)://, http(s):// WebDAV, s3://bucket/prefix); the suffix chooses the format."),
        ParameterSpec("compression_level", .int(1...22), "Compression level (default: the format's own)."),
        sameNameParameter(default: .replace),
    ] + ObjectLock.parameters + SigningSettings.parameters + TransportParameters.all

    /// `same_name`: what a run does when its URL already holds another backup (a second run the same day
    /// with a daily name). A file this host did not record is never replaced.
    static func sameNameParameter(default value: SameName) -> ParameterSpec {
        ParameterSpec("same_name", .choice(SameName.allCases.map(\.rawValue)), default: value.rawValue,
                      "When the URL already holds another backup of this host: keep_both (this one takes NAME-2.tar.zst, NAME-3…), "
                      + "replace it, or refuse (the upload fails). A file this host did not make is never replaced (keep_both, or refuse).")
    }

    static let spec = EngineSpec("archive", .backupPoint, "One archive of the collect point per run, uploaded atomically.",
                                 parameters: parameters, exclusive: TransportParameters.exclusive)

    /// The archive's URL, with the suffixes of the backup point's filters (`.tar.gz.age`).
    let url: String
    let format: ArchiveFormat
    let level: Int?
    let transport: TransportSettings
    let metadataURL: String
    let sameName: SameName
    /// What follows the name the run gives (`.tar.zst.age`): `-2` goes before it.
    let nameTail: String
    /// The metadata document lies beside the backups, where `url` puts them (no `metadata_url`).
    let metadataBeside: Bool
    /// That directory, where each host's document is found.
    let metadataDirectory: String?

    static func metadataURL(in directory: String, _ base: String, host: String) -> String {
        directory + "/\(base).\(host).polyarchiv.json"
    }
    let recorder: BackupRecorder
    let resourceKeys: [String]
    /// No filter encrypts what it ships: its listing may go beside it.
    let listsInClear: Bool
    /// S3 Object Lock on each backup and its listing (`immutable:`).
    let lock: ObjectLock?
    /// The key entries are signed with, and the keys they must be signed by.
    let signing: SigningSettings?

    init(_ parameters: EngineParameters, pair: Pair) throws {
        try self.init(parameters, pair: pair, sameNameDefault: .replace)
    }

    /// `policy`: a rolling archive's retention, which gives `immutable_days` its default.
    init(_ parameters: EngineParameters, pair: Pair, sameNameDefault: SameName, policy: RetentionPolicy? = nil) throws {
        listsInClear = !pair.filters.contains { $0.hidesItsInput }
        var url = try parameters.required("url")
        // An encrypted archive's name ends with the encrypt filters' suffixes: written or added.
        let suffix = pair.filterSuffix
        if !suffix.isEmpty && url.hasSuffix(suffix) { url.removeLast(suffix.count) }
        guard let format = ArchiveFormat.from(name: url) else {
            throw ConfigurationError("`url` `\(Redaction.maskingURLSecrets(url))` must end with \(ArchiveFormat.suffixList)", parameter: "url")
        }
        try Transports.check(url, parameter: "url")
        // A password in the URL is kept out of everything recorded and shown.
        var transport = try TransportSettings(parameters)
        try transport.takePassword(from: &url, parameter: "url")
        var metadata = pair.metadataURL
        if var given = metadata {
            try transport.takePassword(from: &given, parameter: "metadata_url")
            metadata = given
        }
        self.transport = transport
        self.url = url + suffix
        nameTail = (url.lowercased().hasSuffix(".tgz") ? ".tgz" : "." + format.rawValue) + suffix
        sameName = parameters.string("same_name").flatMap(SameName.init(rawValue:)) ?? sameNameDefault
        self.format = format
        level = parameters.int("compression_level")
        // Beside the backups by default: the URL's directory, one document per (backup point, collect point,
        // host), so hosts sharing a backup point never write each other's (the shared document of earlier
        // versions is read for this host's entries until its own exists).
        metadataBeside = pair.metadataURL == nil
        metadataDirectory = metadataBeside ? RemotePath.directory(of: url) : nil
        let base = "\(pair.backupPoint)-\(pair.collectPoint)"
        metadataURL = metadata ?? Self.metadataURL(in: RemotePath.directory(of: url), base, host: pair.host)
        recorder = BackupRecorder(pair, metadataURL: metadataURL,
                                  sharedMetadataURL: metadataDirectory.map { $0 + "/\(base).polyarchiv.json" })
        resourceKeys = TransportParameters.hostKey(url)
        lock = try ObjectLock.parse(parameters, url: url, policy: policy)
        signing = try SigningSettings(parameters)
    }

    var shape: BackupShape {
        var parameters = Parameters()
        parameters["url"] = .string(url)
        parameters["metadata_url"] = .string(metadataURL)
        parameters["same_name"] = .string(sameName.rawValue)
        if let lock { parameters["immutable"] = .string(lock.summary) }
        if let key = signing?.keyFile { parameters["signing_key"] = .string(key) }
        let upload = ArchiveUpload(url: url, transport: transport, recorder: recorder, listsInClear: listsInClear, sameName: sameName,
                                   nameTail: nameTail, lock: lock, signingKey: signing?.keyFile)
        var taken = sameName == .replace ? "replaces this host's backup there" : sameName == .refuse
            ? "refused if taken" : "a new name if taken"
        if let lock { taken += "; \(lock.summary)" }
        return BackupShape(archive: ArchiveRequest(format: format, level: level),
                           upload: PlannedStage(work: upload, parameters: parameters,
                                                summary: "archive → \(Redaction.maskingURLSecrets(url)) (\(taken))",
                                                resourceKeys: resourceKeys),
                           places: [url, metadataURL], metadataURL: metadataURL,
                           metadataBesideParameter: metadataBeside ? "url" : nil)
    }

    func catalog(_ context: RestoreContext) throws -> Catalog {
        let host = context.host ?? recorder.host
        let url = metadataDirectory.map { Self.metadataURL(in: $0, "\(recorder.backupPoint)-\(recorder.collectPoint)", host: host) } ?? metadataURL
        let document = try BackupMetadata.read(url, options: try transport.options(context.secrets), cancellation: context.cancellation)
            ?? recorder.sharedMetadataURL.flatMap {
                try BackupMetadata.read($0, options: try transport.options(context.secrets), cancellation: context.cancellation)
            }
        if let document, document.collectPoint != recorder.collectPoint || document.backupPoint != recorder.backupPoint {
            throw StageFailure("the metadata document \(Redaction.maskingURLSecrets(metadataURL)) describes \(document.backupPoint) ← "
                               + "\(document.collectPoint), not \(recorder.backupPoint) ← \(recorder.collectPoint); give each pair its own metadata_url")
        }
        var entries = document?.backups.map(\.entry) ?? []
        if let signing, let document {
            // Every entry against the trusted keys: one that does not verify is listed, and refused when used.
            let trusted = try signing.trustedKeys()
            for (index, backup) in document.backups.enumerated() {
                entries[index].refused = BackupSignature.problem(backup, trusted: trusted, backupPoint: recorder.backupPoint,
                                                                 collectPoint: recorder.collectPoint)
            }
        }
        return Catalog(place: Redaction.maskingURLSecrets(url), entries: entries)
    }

    /// The manifest uploaded beside the archive, checked against the SHA-256 the document records.
    /// A backup whose entry's signature does not verify is not read at all.
    static func refuseUntrusted(_ backup: CatalogEntry) throws {
        if let problem = backup.refused {
            throw StageFailure("the backup \(Redaction.maskingURLSecrets(backup.location)) is refused: \(problem); "
                               + "restore an earlier one with --at, and look at who could write the backup point")
        }
    }

    func storedTree(_ backup: CatalogEntry, _ context: RestoreContext) throws -> Tree? {
        try Self.refuseUntrusted(backup)
        guard let manifest = backup.manifest else { return nil }
        let file = context.scratch + "/manifest-\(UUID().uuidString)"
        defer { unlink(file) }
        let digest = try BackupDownload.fetch(manifest.location, within: RemotePath.directory(of: url), limit: manifest.size,
                                              options: try transport.options(context.secrets), to: file, cancellation: context.cancellation)
        guard digest == manifest.digest, let data = FileManager.default.contents(atPath: file) else {
            throw StageFailure("the listing \(Redaction.maskingURLSecrets(manifest.location)) does not match its recorded SHA-256: it is damaged")
        }
        return try Tree.decode(data)
    }

    func holds(_ backup: CatalogEntry, _ context: RestoreContext) throws -> Bool? {
        // The location comes from a document the backup point holds: never asked of another host.
        guard RemotePath.isDirectChild(backup.location, of: RemotePath.directory(of: url)) else {
            throw StageFailure("the metadata document names \(TerminalText.escaped(Redaction.maskingURLSecrets(backup.location))), which is not a "
                               + "file in \(Redaction.maskingURLSecrets(RemotePath.directory(of: url))) (the backup point may have been tampered with)")
        }
        let size = try Transports.make(backup.location, options: try transport.options(context.secrets))
            .size(backup.location, cancellation: context.cancellation)
        return size != nil && (backup.size == nil || size == backup.size)
    }

    /// Downloaded into `directory` and checked against the recorded SHA-256.
    func fetch(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Fetched {
        try Self.refuseUntrusted(backup)
        let file = directory + "/" + RemotePath.name(of: backup.location)
        let digest = try BackupDownload.fetch(backup.location, within: RemotePath.directory(of: url), limit: backup.size ?? 0,
                                              options: try transport.options(context.secrets), to: file, cancellation: context.cancellation)
        guard digest == backup.digest else {
            unlink(file)
            throw StageFailure("the backup \(Redaction.maskingURLSecrets(backup.location)) does not match its recorded SHA-256 "
                               + "(\(backup.digest?.short ?? "?")…): it is damaged; restore an older one with --at")
        }
        return .archive(file)
    }
}

/// The upload stage of `archive` and `rolling_archive`.
struct ArchiveUpload: StageWork {
    let version = "2"
    let alwaysRuns = false
    let url: String
    let transport: TransportSettings
    let recorder: BackupRecorder
    /// Whether the tree's manifest may go beside the archive (not when a filter encrypts what it ships).
    let listsInClear: Bool
    let sameName: SameName
    let nameTail: String
    let lock: ObjectLock?
    let signingKey: String?

    func run(_ context: StageContext) async throws -> [Artifact] {
        guard let blob = context.artifacts.first(where: { $0.kind == .blob }) else {
            throw StageFailure("nothing to upload: the archive stage produced no file")
        }
        return try await context.blocking { [self] in
            var options = try transport.options(context.secrets)
            options.uploadProgress = { context.progress($0) }
            context.expect(total: blob.size)
            // Checked against its digest on the way out: read again unless this run wrote (or verified) it.
            try context.store.ensureVerified(blob.digest)
            try recorder.checkHistory(options: options, context: context)
            let url = try location(for: blob.digest, blobSize: blob.size, options: options, context: context)
            let pending = PendingUploads(context: context)
            try pending.start(url, identity: blob.digest.hex, options: options)
            // The backup and its listing under Object Lock; the metadata document (rewritten each run) never.
            var locked = options
            locked.s3ObjectLock = lock?.request(at: Date())
            try Transports.make(url, options: locked).upload(context.store.path(of: blob.digest), to: url, identity: blob.digest.hex,
                                                             cancellation: context.cancellation)
            context.progress(blob.size)
            // The collect point's tree beside it, so it can be listed and searched without the archive.
            var manifest: (String, Digest, Int64)?
            let tree = context.listing.first(where: { $0.kind == .tree })
            if let tree, listsInClear {
                let location = Self.manifestLocation(of: url)
                try context.store.ensureVerified(tree.digest)
                try Transports.make(location, options: locked).upload(context.store.path(of: tree.digest), to: location,
                                                                      identity: tree.digest.hex, cancellation: context.cancellation)
                manifest = (location, tree.digest, context.store.size(of: tree.digest) ?? 0)
            }
            try recorder.record(url, digest: blob.digest, size: blob.size, options: options, context: context, manifest: manifest,
                                tree: recorder.rowCountedDumps.isEmpty ? nil : try tree.map { try context.store.tree($0) },
                                lockedUntil: locked.s3ObjectLock?.until, signingKey: signingKey)
            // Only now: until the backup is recorded, what lies at `url` is known as this host's work by this entry.
            try pending.finish(url)
            return [Artifact(kind: .remote, digest: blob.digest, size: blob.size, location: url)]
        }
    }

    /// Where this run's archive goes: `url`, unless that already holds another backup — this host's (a second
    /// run the same day under a daily name) or a file this host did not record. Then, as `same_name` says:
    /// a free name beside it (`NAME-2.tar.zst`, `NAME-3…`), a failure, or (this host's own backup only) `url`.
    func location(for digest: Digest, blobSize: Int64, options: TransportOptions, context: StageContext) throws -> String {
        let records = BackupRecords(context.journal).backups(backupPoint: recorder.backupPoint, collectPoint: recorder.collectPoint)
        var listed: [BackupMetadata.Backup]?
        /// What `candidate` holds when it is another backup than this one: this host's (with its date), a stranger's (nil date).
        func occupant(_ candidate: String) throws -> (mine: Bool, created: Date?)? {
            if let mine = records.first(where: { $0.location == candidate }) {
                return mine.record.digest == digest ? nil : (true, mine.record.created)
            }
            guard let size = try Transports.make(candidate, options: options).size(candidate, cancellation: context.cancellation) else { return nil }
            // An upload of this host cut short after its rename, before it was recorded: no backup anyone knows of
            // (no document lists it), so it is written over — if its size says it is that upload.
            if let started = PendingUploads(context: context).started(candidate), started.identity == digest.hex, size == blobSize { return nil }
            // A file there that the journal does not know: this host's if its metadata document lists it (a state lost since).
            if listed == nil {
                listed = (try recorder.document(options: options, cancellation: context.cancellation)?.backups ?? []).filter { $0.host == recorder.host }
            }
            if let mine = listed?.first(where: { $0.location == candidate }) {
                return mine.digest == digest ? nil : (true, mine.created)
            }
            return (false, nil)
        }
        guard let taken = try occupant(url) else { return url }
        let what = taken.created.map { "this host's backup of \(ISO8601DateFormatter().string(from: $0))" } ?? "a file this host did not record"
        if sameName == .replace && taken.mine { return url }
        if sameName == .refuse {
            throw StageFailure("\(Redaction.maskingURLSecrets(url)) already holds \(what); nothing was uploaded (same_name: refuse): "
                               + "add the time to the URL ({H}{M}) or set same_name: keep_both")
        }
        let stem = String(url.dropLast(nameTail.count))
        for number in 2...999 {
            let candidate = stem + "-\(number)" + nameTail
            let there = try occupant(candidate)
            // Under `replace`, this host's own backup beside a stranger's file is the one replaced.
            if there == nil || (sameName == .replace && there?.mine == true) {
                context.warn("\(Redaction.maskingURLSecrets(url)) already holds \(what); this backup is "
                             + "\(Redaction.maskingURLSecrets(candidate)) (same_name: \(sameName.rawValue))")
                return candidate
            }
        }
        throw StageFailure("\(Redaction.maskingURLSecrets(url)) and 998 names beside it are taken; nothing was uploaded")
    }

    /// Where a backup's tree manifest goes: beside it, named after it.
    static func manifestLocation(of location: String) -> String { location + ".polyarchiv-tree" }

    /// The location still holds this archive: the newest backup recorded there is this one, with its size.
    func presence(of outputs: [Artifact], _ context: PresenceContext) -> Presence {
        guard let remote = outputs.first, let location = remote.location else { return .gone("no upload recorded") }
        let records = BackupRecords(context.journal).backups(backupPoint: recorder.backupPoint, collectPoint: recorder.collectPoint)
        guard records.first(where: { $0.location == location })?.record.digest == remote.digest else {
            return .gone("\(Redaction.maskingURLSecrets(location)) now holds another backup")
        }
        do {
            let options = context.quick ? try transport.quickOptions(context.secrets) : try transport.options(context.secrets)
            guard let size = try Transports.make(location, options: options).size(location, cancellation: CancellationFlag()) else {
                return .gone("\(Redaction.maskingURLSecrets(location)) is gone")
            }
            guard size == remote.size else { return .gone("\(Redaction.maskingURLSecrets(location)) has another size") }
            // Listed, too: an entry another host's write of the shared document lost is made again.
            if let metadataURL = recorder.metadataURL {
                let document = try recorder.document(options: options, cancellation: CancellationFlag())
                guard document?.backups.contains(where: { $0.location == location && $0.digest == remote.digest }) == true else {
                    return .gone("the metadata document \(Redaction.maskingURLSecrets(metadataURL)) no longer lists \(Redaction.maskingURLSecrets(location))")
                }
            }
            return .present
        } catch {
            return .gone("cannot check \(Redaction.maskingURLSecrets(location)): \(error)")
        }
    }
}
