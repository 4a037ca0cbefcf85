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
        if raw != nil, let sound = try? BackupMetadata.read(metadataURL, options: options, cancellation: context.cancellation) {
            return ["\(Redaction.maskingURLSecrets(metadataURL)) is sound (\(sound.backups.count) backups): nothing to repair"]
        }
        let home = RemotePath.directory(of: url)
        let records = journal.map { BackupRecords($0).backups(backupPoint: recorder.backupPoint, collectPoint: recorder.collectPoint) } ?? []
        let salvaged = raw.map { Self.salvage(String(decoding: $0, as: UTF8.self)) } ?? []
        var candidates: [(location: String, created: Date?, recorded: BackupRecords.Record?)] =
            records.map { ($0.location, $0.record.created, $0.record) }
        for (location, created) in salvaged where !candidates.contains(where: { $0.location == location }) {
            candidates.append((location, created, nil))
        }
        var lines: [String] = []
        var backups: [BackupMetadata.Backup] = []
        for candidate in candidates {
            let shown = Redaction.maskingURLSecrets(candidate.location)
            guard RemotePath.isDirectChild(candidate.location, of: home) else {
                lines.append("left out \(shown): not a file in \(Redaction.maskingURLSecrets(home))")
                continue
            }
            let file = context.scratch + "/repair-\(UUID().uuidString)"
            defer { unlink(file) }
            let digest: Digest
            do {
                digest = try BackupDownload.fetch(candidate.location, within: home, limit: candidate.recorded?.size ?? .max, options: options,
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
            guard let created = candidate.created else {
                lines.append("left out \(shown): no record of when it was made")
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
        backups.sort { $0.created < $1.created }
        try BackupMetadata.write(BackupMetadata(backupPoint: recorder.backupPoint, collectPoint: recorder.collectPoint, backups: backups),
                                 to: metadataURL, options: options, cancellation: context.cancellation)
        lines.append("wrote \(Redaction.maskingURLSecrets(metadataURL)) with \(backups.count) backups"
                     + (recorder.rowCountedDumps.isEmpty ? "" : "; the row counts of verify_drill are not in it (the next backups have them)"))
        return lines
    }

    /// The `"location"` strings of a damaged document, each with the nearest `"created"` date of the same
    /// entry (no other location between them) when one can be read.
    static func salvage(_ text: String) -> [(location: String, created: Date?)] {
        func strings(_ key: String) -> [(position: Int, value: String)] {
            guard let pattern = try? NSRegularExpression(pattern: #"""# + key + #""\s*:\s*"((?:[^"\\]|\\.)*)""#) else { return [] }
            return pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
                Range(match.range(at: 1), in: text).map { (match.range.location, String(text[$0]).replacingOccurrences(of: "\\/", with: "/")) }
            }
        }
        let locations = strings("location"), dates = ISO8601DateFormatter()
        let created = strings("created").compactMap { found in dates.date(from: found.value).map { (found.position, $0) } }
        return locations.map { location in
            let alone = created.filter { date in
                !locations.contains { other in other.position != location.position
                    && (min(date.0, location.position)...max(date.0, location.position)).contains(other.position) }
            }
            let nearest = alone.min { abs($0.0 - location.position) < abs($1.0 - location.position) }
            return (location.value, nearest?.1)
        }
    }
}
