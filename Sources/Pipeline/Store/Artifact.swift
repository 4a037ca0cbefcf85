/// What a stage produces: a blob or a tree in the local store, or a copy held by a backup point.
public struct Artifact: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable {
        /// One file's bytes in the store.
        case blob
        /// A canonical manifest (itself a blob) naming blobs by path.
        case tree
        /// Something a backup point holds; `location` says where, `digest` what.
        case remote
    }

    public let kind: Kind
    public let digest: Digest
    public let size: Int64
    /// A file name for blobs (`db.sql`), a remote location for remote artifacts.
    public let location: String?

    public init(kind: Kind, digest: Digest, size: Int64, location: String? = nil) {
        self.kind = kind
        self.digest = digest
        self.size = size
        self.location = location
    }
}
