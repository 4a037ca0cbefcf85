import Foundation
import Pipeline

/// `archive` backup point: puts the run's archive at its URL, atomically. Only `file://` (and plain
/// absolute paths) exist so far; other transports fail with a clear message.
struct ArchiveUpload: StageRunner {
    let version = "1"
    let alwaysRuns = false

    func run(_ context: StageContext) async throws -> [Artifact] {
        guard let url = context.node.parameters.string("url") else { throw StageFailure("archive backup point without a url") }
        let path: String
        if url.hasPrefix("file://") {
            path = String(url.dropFirst("file://".count)).removingPercentEncoding ?? String(url.dropFirst("file://".count))
        } else if url.hasPrefix("/") {
            path = url
        } else {
            let scheme = url.components(separatedBy: "://").first ?? url
            throw StageFailure("uploads over \(scheme):// are not implemented yet; only file:// works for now")
        }
        guard let blob = context.inputs.flatMap(\.artifacts).first(where: { $0.kind == .blob }) else {
            throw StageFailure("nothing to upload: the archive stage produced no file")
        }
        return try await context.blocking {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            var copied: Int64 = 0
            try AtomicFile.write(path) { sink in
                try context.store.read(blob.digest) { chunk in
                    try context.cancellation.check()
                    try sink(chunk)
                    copied += Int64(chunk.count)
                    context.progress(copied)
                }
            }
            if let backupPoint = context.node.backupPoint, let collectPoint = context.node.collectPoint {
                try context.journal.recordRemoteBackup(backupPoint: backupPoint, collectPoint: collectPoint, location: url,
                                                       digest: blob.digest, size: blob.size, at: context.date)
                if let metadata = context.node.parameters.string("metadata_url") {
                    let backup = BackupMetadata.Backup(location: url, digest: blob.digest, size: blob.size, created: context.date,
                                                       host: ProcessInfo.processInfo.hostName)
                    try BackupMetadata.record(backup, at: metadata, backupPoint: backupPoint, collectPoint: collectPoint)
                }
            }
            return [Artifact(kind: .remote, digest: blob.digest, size: blob.size, location: url)]
        }
    }

    /// The location still holds this archive: the newest backup recorded there is this one, and the file is whole.
    func isStillInPlace(_ node: StageNode, outputs: [Artifact], journal: Journal, store: ContentStore) -> Bool {
        guard let remote = outputs.first, let location = remote.location,
              (try? journal.latestRemoteDigest(location: location)) == remote.digest,
              let path = try? BackupMetadata.localPath(location) else { return false }
        var info = stat()
        return stat(path, &info) == 0 && Int64(info.st_size) == remote.size
    }
}
