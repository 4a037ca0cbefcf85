import Foundation
import Pipeline

/// What a restore stage may use: secrets, cancellation, the identity given on the command line, a private
/// scratch directory, progress and warnings.
public struct RestoreContext: Sendable {
    public let secrets: Secrets
    public let cancellation: CancellationFlag
    /// `restore --identity FILE`: opens data encrypted to age recipients.
    public let identityFile: String?
    /// A directory of the restore's own (0700) for temporary files; removed after the restore.
    public let scratch: String
    /// Whose backups a listing reads where each host keeps its own metadata document (`list --host`); nil:
    /// this host's.
    public var host: String?
    let reportProgress: @Sendable (Int64) -> Void
    let reportWarning: @Sendable (String) -> Void

    public init(secrets: Secrets, cancellation: CancellationFlag, identityFile: String?, scratch: String,
                progress: @escaping @Sendable (Int64) -> Void = { _ in }, warn: @escaping @Sendable (String) -> Void = { _ in }) {
        self.secrets = secrets
        self.cancellation = cancellation
        self.identityFile = identityFile
        self.scratch = scratch
        self.reportProgress = progress
        self.reportWarning = warn
    }

    public func progress(_ bytes: Int64) { reportProgress(bytes) }
    public func warn(_ message: String) { reportWarning(message) }
}

/// How a source is put back: `--into`, `--replace`, or at its own place by `--in-place`.
public struct PutBackRequest: Sendable {
    /// Another place than the source's own: a database name, a file, a user.
    public let into: String?
    /// Put it back over data that is there (a database that holds tables).
    public let replace: Bool
    /// `restore --in-place`: files go back to their own path (what is there is moved aside).
    public let inPlace: Bool
    /// When the restore started (names what is moved aside).
    public let date: Date

    /// `YYYYMMDD-HHMMSS` of `date`, local time: names what a put-back moves aside (`.polyarchiv-before-restore-…`).
    public static func asideStamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: date)
    }

    public init(into: String?, replace: Bool, inPlace: Bool, date: Date) {
        self.into = into
        self.replace = replace
        self.inPlace = inPlace
        self.date = date
    }
}

/// A collect point's data restored from the collect point itself.
public struct RestoredCopy: Sendable {
    /// Where it came from (`git commit 1a2b3c… of /var/backups/www`, the archive's path).
    public let source: String
    public let created: Date
    public let fetched: Fetched
}

/// What a fetch brought back.
public enum Fetched: Sendable, Equatable {
    /// The collect point's tree, in this directory.
    case tree(String)
    /// An archive file (verified against its recorded digest) to extract.
    case archive(String)

    public var path: String {
        switch self {
        case .tree(let path), .archive(let path): return path
        }
    }
}

/// What a backup point holds of one collect point.
public struct Catalog: Sendable {
    /// Where the list comes from, safe to show (passwords masked).
    public let place: String
    /// Oldest first.
    public let entries: [CatalogEntry]

    public init(place: String, entries: [CatalogEntry]) {
        self.place = place
        self.entries = entries
    }
}

/// One backup a backup point holds.
public struct CatalogEntry: Sendable, Equatable {
    /// Where it is: an archive's URL, `URL#commit`, `restic:ID`, a mirror's URL.
    public let location: String
    /// The archive's SHA-256, when the backup is one file.
    public let digest: Digest?
    public let size: Int64?
    public let created: Date
    /// The host that made it.
    public let host: String?
    /// Its tree manifest where one was uploaded beside it, with its SHA-256 and size.
    public var manifest: (location: String, digest: Digest, size: Int64)?
    /// Rows per table of its database dumps, by path, counted at dump time.
    public var rows: [String: [String: Int]]?
    /// Why it may not be used (its signature does not verify against `signed_by`): nil when it may.
    public var refused: String?

    public static func == (lhs: CatalogEntry, rhs: CatalogEntry) -> Bool {
        lhs.location == rhs.location && lhs.digest == rhs.digest && lhs.size == rhs.size && lhs.created == rhs.created && lhs.host == rhs.host
    }

    public init(location: String, digest: Digest?, size: Int64?, created: Date, host: String?) {
        self.location = location
        self.digest = digest
        self.size = size
        self.created = created
        self.host = host
    }
}
