import Foundation
import Pipeline

/// The uploads of one backup point stage that were started and not finished, in the journal (`pending-uploads`
/// namespace). An interrupted upload resumes when the next run sends the same content to the same URL; when
/// the URL changed (a time in the name), what the interrupted one left (`.NAME.….polyarchiv-part`, an S3
/// multipart upload) is removed — only at the URLs this host recorded, nothing a listing suggests.
struct PendingUploads {
    struct Upload: Codable, Equatable {
        let url: String
        let identity: String?
    }

    static let namespace = "pending-uploads"
    let context: StageContext

    private var key: String { context.node.id.description }

    private func load() -> [Upload] {
        ((try? context.table(Self.namespace).decoded([Upload].self, key)) ?? nil) ?? []
    }

    /// The upload to `url` this host started and did not see recorded, if any: what lies there may be its
    /// work (the rename done, the record not yet).
    func started(_ url: String) -> Upload? { load().first { $0.url == url } }

    /// Before an upload to `url`: the leftovers of interrupted uploads to other URLs go, then this one is recorded.
    func start(_ url: String, identity: String?, options: TransportOptions) throws {
        var pending = load()
        // Another URL's, or this URL's with other content (its part has another name): left by an interrupted run.
        for upload in pending where upload.url != url || upload.identity != identity {
            do {
                try Transports.make(upload.url, options: options).removeLeftovers(of: upload.url, identity: upload.identity,
                                                                                  cancellation: context.cancellation)
                pending.removeAll { $0 == upload }
                context.warn("removed what an interrupted upload to \(Redaction.maskingURLSecrets(upload.url)) left")
            } catch let error where !(error is CancellationFlag.Cancelled) {
                context.warn("what an interrupted upload to \(Redaction.maskingURLSecrets(upload.url)) left could not be removed "
                             + "(\(error)); the next run tries again")
            }
        }
        pending.removeAll { $0.url == url }
        pending.append(Upload(url: url, identity: identity))
        try context.table(Self.namespace).encode(pending, key)
    }

    /// After the backup at `url` is recorded (until then, this entry is what says it is this host's work).
    func finish(_ url: String) throws {
        let pending = load().filter { $0.url != url }
        if pending.isEmpty { try context.table(Self.namespace).remove(key) } else { try context.table(Self.namespace).encode(pending, key) }
    }
}
