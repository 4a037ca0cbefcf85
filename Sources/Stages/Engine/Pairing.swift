import Foundation
import Pipeline

/// One (backup point, collect point) pair, as a backup point engine sees it when it plans its stages.
public struct Pair: Sendable {
    public let backupPoint: String
    public let collectPoint: String
    /// The collect point it ships.
    public let collect: any CollectPointEngine
    /// The backup point's own filters, in order (their name suffixes end up in file names).
    public let filters: [any FilterEngine]
    /// The variables of the pair's scope, recorded with each backup (never part of a cache key).
    public let variables: [String: String]
    /// `metadata_url` as configured, expanded.
    public let metadataURL: String?
    /// This host's name: backups carry it, so many hosts can share a backup point.
    public let host: String
    /// The dumps whose rows are counted: their stage and where they lie in the collect point (their counts
    /// are recorded with each backup, for the drill).
    public var rowCountedDumps: [(stage: String, path: String)] = []

    public init(backupPoint: String, collectPoint: String, collect: any CollectPointEngine, filters: [any FilterEngine],
                variables: [String: String], metadataURL: String?, host: String) {
        self.backupPoint = backupPoint
        self.collectPoint = collectPoint
        self.collect = collect
        self.filters = filters
        self.variables = variables
        self.metadataURL = metadataURL
        self.host = host
    }

    /// What the filters append to a name (`.age` for each encrypt filter).
    public var filterSuffix: String { filters.map(\.nameSuffix).joined() }
}

/// The stages a backup point needs for one collect point; the planner links them: collect point →
/// (archive) → the backup point's filters → upload → (prune).
public struct BackupShape: Sendable {
    /// An archive of the collect point to build first; backup points that want the same one share it.
    public var archive: ArchiveRequest?
    public var upload: PlannedStage
    public var prune: PlannedStage?
    /// Where it writes (URLs, metadata documents): no two stages may write the same place.
    public var places: [String]
    /// Directories it makes hold exactly the collect point (deleting what else is there): no other place may
    /// lie inside one, nor one inside another place.
    public var directories: [String] = []
    /// The metadata document it keeps, and the parameter whose directory it lies in by default (the planner
    /// warns when that directory moves with the date: the document could not be found again).
    public var metadataURL: String?
    public var metadataBesideParameter: String?

    public init(archive: ArchiveRequest? = nil, upload: PlannedStage, prune: PlannedStage? = nil, places: [String],
                metadataURL: String? = nil, metadataBesideParameter: String? = nil) {
        self.archive = archive
        self.upload = upload
        self.prune = prune
        self.places = places
        self.metadataURL = metadataURL
        self.metadataBesideParameter = metadataBesideParameter
    }
}

public struct ArchiveRequest: Sendable, Hashable {
    public let format: ArchiveFormat
    public let level: Int?

    public init(format: ArchiveFormat, level: Int?) {
        self.format = format
        self.level = level
    }
}

/// A stage an engine asks for: its work, the parameters its cache key depends on, and how plans show it.
public struct PlannedStage: Sendable {
    public let work: any StageWork
    public let parameters: Parameters
    public let summary: String
    public let resourceKeys: [String]

    public init(work: any StageWork, parameters: Parameters, summary: String, resourceKeys: [String] = []) {
        self.work = work
        self.parameters = parameters
        self.summary = summary
        self.resourceKeys = resourceKeys
    }
}

/// A stage that has something to say in a plan beyond its state (retention: what it will keep and delete).
public protocol PlanNotes {
    /// Read only, one quick attempt where a server is asked; a server that did not answer is not asked again
    /// in the same plan (`unreachable`).
    func notes(secrets: Secrets, journal: Journal?, date: Date, unreachable: UnreachableHosts) -> [String]
}

/// The servers a plan could not reach: it asks each once.
public final class UnreachableHosts: @unchecked Sendable {
    private let lock = NSLock()
    private var hosts: [String: String] = [:]

    public init() {}

    /// Why the host of `url` did not answer, when it did not.
    public func failure(for url: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        return TransportParameters.hostKey(url).first.flatMap { hosts[$0] }
    }

    public func note(_ url: String, _ failure: String) {
        lock.lock()
        for host in TransportParameters.hostKey(url) { hosts[host] = failure }
        lock.unlock()
    }
}
