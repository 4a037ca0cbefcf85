import Foundation
import Pipeline

/// `archive` backup point: puts the run's archive at its URL through the URL's transport (temporary
/// name, verified, renamed), then records it in the metadata document.
struct ArchiveUpload: StageRunner {
    let version = "2"
    let alwaysRuns = false

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        guard let url = parameters.string("url") else { throw StageFailure("archive backup point without a url") }
        guard let blob = context.inputs.flatMap(\.artifacts).first(where: { $0.kind == .blob }) else {
            throw StageFailure("nothing to upload: the archive stage produced no file")
        }
        return try await context.blocking {
            let transport = try Transports.make(url, options: try TransportOptions(parameters))
            try transport.upload(context.store.path(of: blob.digest), to: url, identity: blob.digest.hex, cancellation: context.cancellation)
            context.progress(blob.size)
            try Self.record(url, digest: blob.digest, size: blob.size, context: context)
            return [Artifact(kind: .remote, digest: blob.digest, size: blob.size, location: url)]
        }
    }

    /// The journal and the metadata document (any backup point's, when it has a `metadata_url`) learn of a
    /// new backup.
    static func record(_ location: String, digest: Digest, size: Int64, context: StageContext) throws {
        guard let backupPoint = context.node.backupPoint, let collectPoint = context.node.collectPoint else { return }
        try context.journal.recordRemoteBackup(backupPoint: backupPoint, collectPoint: collectPoint, location: location,
                                               digest: digest, size: size, at: context.date)
        if let metadata = context.node.parameters.string("metadata_url") {
            let backup = BackupMetadata.Backup(location: location, digest: digest, size: size, created: context.date,
                                               host: ProcessInfo.processInfo.hostName, variables: context.node.variables)
            try BackupMetadata.record(backup, at: metadata, backupPoint: backupPoint, collectPoint: collectPoint,
                                      parameters: context.node.parameters, cancellation: context.cancellation)
        }
    }

    /// The location still holds this archive: the newest backup recorded there is this one, with its size.
    func isStillInPlace(_ node: StageNode, outputs: [Artifact], journal: Journal, store: ContentStore) -> Bool {
        guard let remote = outputs.first, let location = remote.location,
              (try? journal.latestRemoteDigest(location: location)) == remote.digest,
              let transport = try? Transports.make(location, options: try TransportOptions(node.parameters)),
              let size = try? transport.size(location, cancellation: CancellationFlag()) else { return false }
        return size == remote.size
    }
}
