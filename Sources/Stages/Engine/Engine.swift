import Foundation
import Pipeline

/// Every engine: its name, kind and parameters (`spec`). Each kind has its own protocol below; an engine is
/// one type that conforms to its kind's protocol and is listed once, in `Engines`.
public protocol Engine: Sendable {
    static var spec: EngineSpec { get }
}

/// A problem an engine finds in its configuration when it decodes it, at plan time: reported as a
/// configuration error at the named parameter (or at the engine).
public struct ConfigurationError: Error, CustomStringConvertible {
    public let parameter: String?
    public let message: String

    public init(_ message: String, parameter: String? = nil) {
        self.message = message
        self.parameter = parameter
    }

    public var description: String { message }
}

/// A source: dumps one thing (a tree, a database) into the collect point. The engine value is its own
/// dump stage's work.
public protocol SourceEngine: Engine, StageWork {
    /// Decodes the typed configuration, once, when the plan is made.
    init(_ parameters: EngineParameters) throws
    /// Where the data lands in the collect point when `destination` is not given (`NAME.sql`, `NAME/`).
    func defaultDestination(source name: String) -> String
    /// Resources a dump holds while it runs (one dump at a time per database server).
    var resourceKeys: [String] { get }
    var summary: String { get }
    /// The order in which `restore` puts sources back: lower first (directories before the databases
    /// whose files may live in them).
    var putBackOrder: Int { get }
    /// Puts restored data back where it came from; returns one line saying what was done.
    func putBack(_ data: String, _ request: PutBackRequest, _ context: RestoreContext) throws -> String
    /// What `restore --dry-run` should add about how the data would go back, when it is out of the ordinary.
    func putBackNote(_ request: PutBackRequest) -> String?
    /// Whether a put-back stopped halfway leaves what was there untouched (it writes aside and renames
    /// when whole), so an interrupted restore can say so; false unless the engine vouches for it.
    func putBackIsAtomic(_ request: PutBackRequest) -> Bool
    /// Whether a put-back in place moves what is there aside (files), rather than refusing it without `--replace`.
    var movesAsideInPlace: Bool { get }
    /// Whether a run reads the local path `path` (normalised, absolute): writing there would back up its own
    /// output.
    func reads(_ path: String) -> Bool
    /// `validate --check-access`: whether the source can be read (the server answers, the credentials are
    /// accepted, the path is readable), without dumping or writing anything; one line saying what was tried.
    func checkAccess(_ context: RestoreContext) throws -> String
    /// Whether its dumps carry row counts per table (recorded at dump time, beside the backup).
    var countsRows: Bool { get }
    /// `verify_drill`: `data` (its dump, as restored from a backup) put into a scratch database on the same
    /// server (or a scratch file), its rows counted per table, and the scratch database dropped; nil when
    /// the engine has no drill (a whole-server dump, files).
    func drill(_ data: String, _ context: RestoreContext) throws -> [String: Int]?
}

extension SourceEngine {
    public var countsRows: Bool { false }
    public func drill(_ data: String, _ context: RestoreContext) throws -> [String: Int]? { nil }
    public var resourceKeys: [String] { [] }
    public var putBackOrder: Int { 50 }
    public func putBackNote(_ request: PutBackRequest) -> String? { nil }
    public func putBackIsAtomic(_ request: PutBackRequest) -> Bool { false }
    public var movesAsideInPlace: Bool { false }
    public func reads(_ path: String) -> Bool { false }
    public func checkAccess(_ context: RestoreContext) throws -> String { "not checked: it runs only as part of a backup" }
}

/// A collect point: gathers its sources' data (after its filters) in one place. The engine value is its
/// collect stage's work.
public protocol CollectPointEngine: Engine, StageWork {
    init(_ parameters: EngineParameters) throws
    /// The local directory it keeps its data in.
    var path: String { get }
    var summary: String { get }
    /// The collected tree as plain files in a directory, for backup points that read one (restic, rsync),
    /// with the names to leave out; nil when it keeps no such directory.
    var treeDirectory: TreeDirectory? { get }
    /// Its own history, which git backup points push as it is.
    var gitHistory: GitHistoryReference? { get }
    /// `restore --from-collect-point`: its data (at `at`, or the commit `commit`) into `directory`.
    func restoreItself(at: Date?, commit: String?, into directory: String, _ context: RestoreContext) throws -> RestoredCopy
}

extension CollectPointEngine {
    public var treeDirectory: TreeDirectory? { nil }
    public var gitHistory: GitHistoryReference? { nil }
}

public struct TreeDirectory: Sendable {
    public let path: String
    public let exclude: [String]
}

public struct GitHistoryReference: Sendable {
    public let repository: String
    public let branch: String
}

/// A filter: rewrites what passes through it (on a collect point: its tree; on a backup point: the archive
/// or tree it ships). The engine value is its filter stage's work.
public protocol FilterEngine: Engine, StageWork {
    init(_ parameters: EngineParameters) throws
    var summary: String { get }
    /// Appended to the names of what it rewrites (`.age`); empty when names stay.
    var nameSuffix: String { get }
    /// Its input must not stay in the store once it ran (encryption: the clear text leaves the local state).
    var hidesItsInput: Bool { get }
    /// Undoes it on a restored directory, in place; returns what it verified (a hash index), if anything.
    func undo(directory: String, _ context: RestoreContext) throws -> String?
    /// Undoes it on one file (an archive it rewrote) into `output`.
    func undo(file: String, to output: String, _ context: RestoreContext) throws
    /// Whether it can be undone here without `restore --identity` (`verify` opens what it can).
    func canUndo(_ context: RestoreContext) -> Bool
}

extension FilterEngine {
    public var hidesItsInput: Bool { false }
    public func canUndo(_ context: RestoreContext) -> Bool { true }
}

/// A backup point: ships what one collect point holds. One value per (backup point, collect point): its
/// parameters were expanded with that pair's variables.
public protocol BackupPointEngine: Engine {
    init(_ parameters: EngineParameters, pair: Pair) throws
    /// The stages that ship the collect point: an archive to build (shared with other backup points that
    /// want the same one), the upload, retention.
    var shape: BackupShape { get }
    /// What it holds of the collect point, read from the backup point itself (a fresh machine can list).
    func catalog(_ context: RestoreContext) throws -> Catalog
    /// One backup brought back into `directory`: a tree, or an archive file inside it.
    func fetch(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Fetched
    /// `verify`: `backup` checked where it is stored. By default it is fetched as a restore fetches it (an
    /// archive is checked against its recorded SHA-256 on the way); engines add their own checks (git fsck,
    /// restic check). What it fetched, if anything, is then opened and its hashes index checked.
    func verify(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Verification
    /// `validate --check-access`: the backup point reached and read (its listing), nothing written.
    func checkAccess(_ context: RestoreContext) throws -> String
    /// `ls`, `find`, `diff`: the backup's tree without fetching the backup (a manifest beside an archive,
    /// restic's own listing); nil when the backup must be fetched and opened to be listed.
    func storedTree(_ backup: CatalogEntry, _ context: RestoreContext) throws -> Tree?
    /// Whether the backup is still where its listing says, as big as recorded (a cheap look, not a
    /// verification); nil when the engine cannot tell without fetching it.
    func holds(_ backup: CatalogEntry, _ context: RestoreContext) throws -> Bool?
    /// `polyarchiv repair`: rebuilds this host's metadata document from what the backup point holds (each
    /// backup read back and hashed), keeping the damaged one aside; one line per backup and what it did,
    /// saying what it could not vouch for. `journal`: this host's records, when there is a state directory.
    func repair(_ context: RestoreContext, journal: Journal?) throws -> [String]
    /// `polyarchiv prune`: the retention of `host`'s backups applied now, a line per backup deleted (or, with
    /// `dryRun`, to delete); nil for an engine without retention.
    func prune(host: String, dryRun: Bool, journal: Journal?, _ context: RestoreContext) throws -> [String]?
}

/// What a backup point's own verification did.
public struct Verification: Sendable {
    /// What was checked, a line each.
    public var lines: [String]
    /// The backup as fetched, for the checks of its content; nil when the engine checked it in place.
    public var fetched: Fetched?

    public init(lines: [String], fetched: Fetched?) {
        self.lines = lines
        self.fetched = fetched
    }
}

extension BackupPointEngine {
    public func storedTree(_ backup: CatalogEntry, _ context: RestoreContext) throws -> Tree? { nil }
    public func holds(_ backup: CatalogEntry, _ context: RestoreContext) throws -> Bool? { nil }
    public func prune(host: String, dryRun: Bool, journal: Journal?, _ context: RestoreContext) throws -> [String]? { nil }
    public func repair(_ context: RestoreContext, journal: Journal?) throws -> [String] {
        throw StageFailure("\(type(of: self).spec.name) keeps no metadata document: there is nothing to repair")
    }

    public func checkAccess(_ context: RestoreContext) throws -> String {
        let catalog = try catalog(context)
        return "reached \(catalog.place): \(catalog.entries.count) backup(s) listed"
    }

    public func verify(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Verification {
        let fetched = try fetch(backup, into: directory, context)
        let checked = backup.digest.map { "downloaded; its SHA-256 matches the recorded \($0.short)…" } ?? "fetched whole"
        return Verification(lines: [checked], fetched: fetched)
    }
}

/// A hook: tells someone how a scope went.
public protocol HookEngine: Engine {
    init(_ parameters: EngineParameters) throws
    /// Sends one event (blocking).
    func send(_ event: HookEvent, _ report: HookReport, _ context: HookContext) throws
    /// Before its scope: whether its failure stops the scope's stages (a precondition). A notification never does.
    var blocksItsScopeOnFailure: Bool { get }
}

extension HookEngine {
    public var blocksItsScopeOnFailure: Bool { false }
}
