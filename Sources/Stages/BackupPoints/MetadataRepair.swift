import Foundation
import Pipeline

/// `polyarchiv repair` for archive backup points: this host's metadata document rebuilt from what lies
/// there. The candidates are the backups this host's journal recorded and the locations the damaged document
/// still spells out; each is taken only inside the backup point's directory, read back whole and hashed
/// (its listing too). A backup whose bytes differ from the journal's record is left out (a restore would
/// refuse it); one that only the damaged text names is kept, said to be unvouched for; the damaged
/// document is kept aside (`….damaged-DATE`), never deleted.
extension ArchiveBackupPoint {
    func repair(_ context: RestoreContext, journal: Journal?) throws -> [String] {
        let options = try transport.options(context.secrets)
        let documents = try Transports.make(metadataURL, options: options)
        let raw = try documents.read(metadataURL, cancellation: context.cancellation)
        if let raw, let sound = try? BackupMetadata.decode(raw) {
            return ["\(Redaction.maskingURLSecrets(metadataURL)) is sound (\(sound.backups.count) backups): nothing to repair"]
        }
        let home = RemotePath.directory(of: url)
        let records = journal.map { BackupRecords($0).backups(backupPoint: recorder.backupPoint, collectPoint: recorder.collectPoint) } ?? []
        let salvaged = raw.map { Self.salvage(String(decoding: $0, as: UTF8.self)) } ?? []
        var candidates: [(location: String, created: Date?, size: Int64?, recorded: BackupRecords.Record?)] =
            records.map { ($0.location, $0.record.created, $0.record.size, $0.record) }
        var lines: [String] = []
        var others: [BackupMetadata.Backup] = []
        for entry in salvaged where !candidates.contains(where: { $0.location == entry.location }) {
            let shown = Redaction.maskingURLSecrets(entry.location)
            // Only this host's entries, with a size to stop the download at and a date that is not to come.
            if let host = entry.host, host != recorder.host {
                // Another host's, in a document hosts share: not this host's to check, nor to drop.
                if let digest = entry.digest, let size = entry.size, let created = entry.created {
                    others.append(BackupMetadata.Backup(location: entry.location, digest: digest, size: size, created: created, host: host))
                    lines.append("kept \(shown) of host \(host) as the damaged document gives it (not checked: not this host's)")
                } else {
                    lines.append("left out \(shown) of host \(host): its entry cannot be read whole; that host's `polyarchiv repair` "
                                 + "or its next backup lists its own again")
                }
            } else if entry.host == nil {
                lines.append("left out \(shown): the damaged document does not say which host made it")
            } else if entry.size == nil {
                lines.append("left out \(shown): its size cannot be read in the damaged document")
            } else if let created = entry.created, created > Date().addingTimeInterval(300) {
                lines.append("left out \(shown): dated in the future (\(ISO8601DateFormatter().string(from: created)))")
            } else {
                candidates.append((entry.location, entry.created, entry.size, nil))
            }
        }
        var backups: [BackupMetadata.Backup] = []
        for candidate in candidates {
            let shown = Redaction.maskingURLSecrets(candidate.location)
            guard RemotePath.isDirectChild(candidate.location, of: home) else {
                lines.append("left out \(shown): not a file in \(Redaction.maskingURLSecrets(home))")
                continue
            }
            guard let created = candidate.created else {
                lines.append("left out \(shown): no record of when it was made")
                continue
            }
            let file = context.scratch + "/repair-\(UUID().uuidString)"
            defer { unlink(file) }
            let digest: Digest
            do {
                digest = try BackupDownload.fetch(candidate.location, within: home, limit: candidate.size ?? 0, options: options,
                                                  to: file, cancellation: context.cancellation)
            } catch let failure as StageFailure {
                lines.append("left out \(shown): \(failure)")
                continue
            }
            var info = stat()
            let size = stat(file, &info) == 0 ? Int64(info.st_size) : 0
            if let recorded = candidate.recorded, recorded.digest != digest || recorded.size != size {
                lines.append("left out \(shown): it reads back as \(digest.short) (\(size) bytes), this host recorded \(recorded.digest.short) "
                             + "(\(recorded.size) bytes): damaged")
                continue
            }
            var backup = BackupMetadata.Backup(location: candidate.location, digest: digest, size: size, created: created, host: recorder.host)
            let manifest = ArchiveUpload.manifestLocation(of: candidate.location)
            if listsInClear, let listing = try? BackupDownload.fetch(manifest, within: home, limit: BackupDownload.manifestCeiling, options: options,
                                                                    to: file, cancellation: context.cancellation),
               let data = FileManager.default.contents(atPath: file), (try? Tree.decode(data)) != nil {
                backup.manifest = manifest
                backup.manifestDigest = listing
                backup.manifestSize = Int64(data.count)
            }
            backups.append(backup)
            lines.append((candidate.recorded == nil ? "kept \(shown), NOT vouched for: only the damaged document names it (read back: "
                                                    : "kept \(shown): read back as recorded (")
                         + "\(digest.short), \(size) bytes" + (backup.manifest == nil ? ", no listing)" : ", with its listing)"))
        }
        if let raw {
            let aside = metadataURL + ".damaged-" + PutBackRequest.asideStamp(Date())
            try documents.write(raw, to: aside, cancellation: context.cancellation)
            lines.append("the damaged document is kept as \(Redaction.maskingURLSecrets(aside))")
        }
        backups += others
        backups.sort { $0.created < $1.created }
        try BackupMetadata.write(BackupMetadata(backupPoint: recorder.backupPoint, collectPoint: recorder.collectPoint, backups: backups),
                                 to: metadataURL, options: options, cancellation: context.cancellation)
        lines.append("wrote \(Redaction.maskingURLSecrets(metadataURL)) with \(backups.count) backups"
                     + (recorder.rowCountedDumps.isEmpty ? "" : "; the row counts of verify_drill are not in it (the next backups have them)"))
        return lines
    }

    /// What a damaged document still says of each backup: its `"location"`, with the `"created"` date, `"host"`
    /// and `"size"` of the same entry when they can be read. Keys are written sorted: `created` and `host` come
    /// before `location` in its entry (after the entry's `{`), `size` after it (before any nested object).
    static func salvage(_ text: String) -> [Salvaged] {
        let utf16 = Array(text.utf16)
        func fields(_ key: String, _ valuePattern: String) -> [(position: Int, value: String)] {
            guard let pattern = try? NSRegularExpression(pattern: #"""# + key + #""\s*:\s*"# + valuePattern) else { return [] }
            return pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
                Range(match.range(at: 1), in: text).map { (match.range.location, String(text[$0]).replacingOccurrences(of: "\\/", with: "/")) }
            }
        }
        let quoted = #""((?:[^"\\]|\\.)*)""#
        let dates = ISO8601DateFormatter()
        let created = fields("created", quoted), hosts = fields("host", quoted), sizes = fields("size", #"([0-9]+)"#)
        let digests = fields("digest", quoted)
        return fields("location", quoted).map { location in
            // The entry's own span: from its `{` to the location, and from the location to the next brace.
            let start = utf16[..<location.position].lastIndex(of: 0x7B) ?? 0
            let end = utf16[location.position...].firstIndex { $0 == 0x7B || $0 == 0x7D } ?? utf16.count
            func before(_ found: [(position: Int, value: String)]) -> String? {
                found.last { $0.position > start && $0.position < location.position }?.value
            }
            return Salvaged(location: location.value, created: before(created).flatMap { dates.date(from: $0) }, host: before(hosts),
                            size: sizes.first { $0.position > location.position && $0.position < end }.flatMap { Int64($0.value) },
                            digest: before(digests).flatMap { Digest(hex: $0) })
        }
    }

    struct Salvaged {
        let location: String
        let created: Date?
        let host: String?
        let size: Int64?
        let digest: Digest?
    }
}
