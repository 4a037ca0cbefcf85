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
    /// For a tree: where its files' bytes are, when not in the store (a source directory, a collect point).
    public let places: [TreePlace]?

    public init(kind: Kind, digest: Digest, size: Int64, location: String? = nil, places: [TreePlace]? = nil) {
        self.kind = kind
        self.digest = digest
        self.size = size
        self.location = location
        self.places = places?.isEmpty == true ? nil : places
    }
}

/// Files of a tree under `prefix` (a relative directory ending in `/`, or empty for the whole tree) have
/// their bytes under `root`, at the rest of their path.
public struct TreePlace: Codable, Sendable, Hashable, CustomStringConvertible {
    public let prefix: String
    public let root: String

    public init(prefix: String, root: String) {
        self.prefix = prefix
        self.root = root
    }

    /// The same place seen from a tree that puts this one under `destination` (a relative directory).
    public func moved(under destination: String) -> TreePlace {
        let clean = destination.split(separator: "/").joined(separator: "/")
        return TreePlace(prefix: clean.isEmpty ? prefix : clean + "/" + prefix, root: root)
    }

    /// Where the file at `path` is, when it lies under this place.
    public func source(of path: String) -> String? {
        guard prefix.isEmpty || path.hasPrefix(prefix) else { return nil }
        return root + "/" + path.dropFirst(prefix.count)
    }

    public var description: String { (prefix.isEmpty ? "." : prefix) + "=" + root }
}
