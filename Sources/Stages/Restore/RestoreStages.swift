import Foundation
import Pipeline

/// Where one collect point is being restored: a partial directory that takes its final name once the
/// tree is whole (every filter undone), a private scratch directory for downloads, and what the stages
/// learnt on the way (for the summary).
public final class RestoreWorkspace: @unchecked Sendable {
    public let collectPoint: String
    /// `TARGET/<collect point>`: the restored tree, once whole.
    public let directory: String
    /// Where the tree grows before it is whole.
    public let partial: String
    public let scratch: String
    private let lock = NSLock()
    private var _source = ""
    private var _created = Date(timeIntervalSince1970: 0)
    private var _archive: String?
    private var _verified: [String] = []
    private var _results: [String] = []
    private var _finished = false
    private var _refused: [String] = []
    private var _checked = false

    /// Keep setuid/setgid bits (`--keep-special-bits`); they are cleared by default.
    public let keepSpecialBits: Bool
    /// `--path`: only what these patterns match is kept.
    let selection: RestoredTreeSelection?

    public init(collectPoint: String, target: String, keepSpecialBits: Bool = false, paths: [String] = []) throws {
        self.collectPoint = collectPoint
        self.keepSpecialBits = keepSpecialBits
        selection = try RestoredTreeSelection(paths)
        directory = target + "/" + collectPoint
        partial = target + "/." + collectPoint + ".polyarchiv-partial"
        scratch = target + "/." + collectPoint + ".polyarchiv-scratch"
    }

    func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    public var source: String { locked { _source } }
    public var created: Date { locked { _created } }
    public var verifiedIndexes: [String] { locked { _verified } }
    public var results: [String] { locked { _results } }
    /// Entries of the backup that were not restored (device nodes, FIFOs, sockets): one line each.
    public var refused: [String] { locked { _refused } }
    /// Whether the tree took its final name.
    public var finished: Bool { locked { _finished } }
    var archive: String? {
        get { locked { _archive } }
        set { locked { _archive = newValue } }
    }

    func fetched(from source: String, created: Date, archive: String?) {
        locked {
            _source = source
            _created = created
            _archive = archive
        }
    }

    func verified(_ index: String) { locked { _verified.append(index) } }
    func refuse(_ lines: [String]) { locked { _refused += lines } }

    /// Whatever fetched the tree (an archive, restic, rsync, git), only files, directories and links stay in
    /// it, before any filter reads it: the rest is removed and named.
    func checkTree() {
        guard !locked({ _checked }) else { return }
        refuse(RestoredTreeCheck.check(partial, keepSpecialBits: keepSpecialBits))
        locked { _checked = true }
    }
    func result(_ line: String) { locked { _results.append(line) } }

    /// The tree is whole: it takes its final name (which must be free: restore never overwrites).
    func finish() throws {
        checkTree()
        try selection?.apply(to: partial)
        guard rename(partial, directory) == 0 else {
            throw StageFailure("cannot move the restored data to \(directory): \(FileIO.lastError)")
        }
        locked { _finished = true }
    }

    /// Prepares the partial directory and the scratch directory; the final one must be new or empty.
    public func prepare() throws {
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            guard existing.isEmpty else {
                throw StageFailure("\(directory) is not empty; restore into a new or empty directory (nothing was changed)")
            }
            rmdir(directory)
        }
        try? FileManager.default.removeItem(atPath: partial)
        try? FileManager.default.removeItem(atPath: scratch)
        // Made here and now (EEXIST fails): a directory someone re-created in between is never worked in.
        for path in [partial, scratch] {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard mkdir(path, 0o700) == 0 else { throw StageFailure("cannot create \(path): \(FileIO.lastError) (nothing was changed)") }
        }
    }

    /// After the run: what did not finish leaves nothing behind.
    public func cleanUp() {
        if !finished { try? FileManager.default.removeItem(atPath: partial) }
        try? FileManager.default.removeItem(atPath: scratch)
    }

    func context(_ stage: StageContext, identityFile: String?) -> RestoreContext {
        RestoreContext(secrets: stage.secrets, cancellation: stage.cancellation, identityFile: identityFile, scratch: scratch,
                       progress: { stage.progress($0) }, warn: { stage.warn($0) })
    }
}

/// `fetch`: a backup brought back from a backup point (an archive into the scratch directory, a tree into
/// the partial directory), or the collect point's own copy.
public struct FetchStage: StageWork {
    public let version = "1"
    public let alwaysRuns = true
    public enum Origin: Sendable {
        case backupPoint(any BackupPointEngine, CatalogEntry, name: String)
        case collectPoint(any CollectPointEngine, at: Date?, commit: String?)
        /// Nothing to restore from (no backup found): the stage fails with this reason, and the hooks say so.
        case unavailable(String)
    }

    public let origin: Origin
    public let workspace: RestoreWorkspace
    public let identityFile: String?
    /// No filter to undo after it: the tree is whole when it arrives.
    public let finishes: Bool

    public init(origin: Origin, workspace: RestoreWorkspace, identityFile: String?, finishes: Bool) {
        self.origin = origin
        self.workspace = workspace
        self.identityFile = identityFile
        self.finishes = finishes
    }

    public func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            try workspace.prepare()
            let restore = workspace.context(context, identityFile: identityFile)
            switch origin {
            case .unavailable(let reason):
                throw StageFailure(reason)
            case let .backupPoint(engine, backup, name):
                let download = workspace.scratch + "/fetched"
                try FileManager.default.createDirectory(atPath: download, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                switch try engine.fetch(backup, into: download, restore) {
                case .tree(let directory):
                    try Self.move(contentsOf: directory, into: workspace.partial)
                    workspace.fetched(from: name, created: backup.created, archive: nil)
                    workspace.checkTree()
                case .archive(let file):
                    workspace.fetched(from: name, created: backup.created, archive: file)
                }
            case let .collectPoint(engine, at, commit):
                let copy = try engine.restoreItself(at: at, commit: commit, into: workspace.partial, restore)
                switch copy.fetched {
                case .tree:
                    workspace.fetched(from: copy.source, created: copy.created, archive: nil)
                    workspace.checkTree()
                case .archive(let file): workspace.fetched(from: copy.source, created: copy.created, archive: file)
                }
            }
            if finishes { try workspace.finish() }
            return []
        }
    }

    /// A tree fetched somewhere else (a clone, restic's target) moved into the partial directory.
    static func move(contentsOf source: String, into directory: String) throws {
        guard source != directory else { return }
        try DirectoryWalk.moveContents(of: source, into: directory)
    }
}

/// `unfilter`: a filter undone — on the fetched archive file (a backup point's encryption), or on the
/// restored tree (decrypting its files, checking a hash index).
public struct UnfilterStage: StageWork {
    public let version = "1"
    public let alwaysRuns = true
    public let filter: any FilterEngine
    public let workspace: RestoreWorkspace
    public let identityFile: String?
    /// On the archive file (before extraction) rather than on the tree.
    public let onArchive: Bool
    public let finishes: Bool

    public init(filter: any FilterEngine, workspace: RestoreWorkspace, identityFile: String?, onArchive: Bool, finishes: Bool) {
        self.filter = filter
        self.workspace = workspace
        self.identityFile = identityFile
        self.onArchive = onArchive
        self.finishes = finishes
    }

    public func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let restore = workspace.context(context, identityFile: identityFile)
            if onArchive {
                guard let archive = workspace.archive else { throw StageFailure("no archive to undo \(type(of: filter).spec.name) on") }
                let output = workspace.scratch + "/unfiltered-\(UUID().uuidString)"
                try filter.undo(file: archive, to: output, restore)
                if archive.hasPrefix(workspace.scratch + "/") { unlink(archive) }
                workspace.archive = output
            } else if let index = try filter.undo(directory: workspace.partial, restore) {
                workspace.verified(index)
            }
            if finishes { try workspace.finish() }
            return []
        }
    }
}

/// `extract`: the fetched archive extracted into the partial directory, every entry checked to land inside
/// it; nothing to do when a tree was fetched.
public struct ExtractStage: StageWork {
    public let version = "1"
    public let alwaysRuns = true
    public let workspace: RestoreWorkspace
    public let finishes: Bool

    public init(workspace: RestoreWorkspace, finishes: Bool) {
        self.workspace = workspace
        self.finishes = finishes
    }

    public func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            if let archive = workspace.archive {
                workspace.refuse(try TarReader.extract(archive, into: workspace.partial, keepSpecialBits: workspace.keepSpecialBits,
                                                       cancellation: context.cancellation, warn: { context.warn($0) }))
                workspace.checkTree()
                if archive.hasPrefix(workspace.scratch + "/") { unlink(archive) }
                workspace.archive = nil
            }
            if finishes { try workspace.finish() }
            return []
        }
    }
}

/// `putback`: a source put back where it came from (a database, a directory, a file), from the restored tree.
public struct PutBackStage: StageWork {
    public let version = "1"
    public let alwaysRuns = true
    public let source: any SourceEngine
    public let name: String
    /// Where its data is in the restored tree (a file, or a directory ending in `/`).
    public let destination: String
    public let request: PutBackRequest
    public let workspace: RestoreWorkspace
    public let identityFile: String?

    public init(source: any SourceEngine, name: String, destination: String, request: PutBackRequest, workspace: RestoreWorkspace,
                identityFile: String?) {
        self.source = source
        self.name = name
        self.destination = destination
        self.request = request
        self.workspace = workspace
        self.identityFile = identityFile
    }

    public func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let trimmed = destination.hasSuffix("/") ? String(destination.dropLast()) : destination
            let data = workspace.directory + "/" + trimmed
            var info = stat()
            guard lstat(data, &info) == 0 else {
                throw StageFailure("the restored data of \(workspace.collectPoint) has no \(trimmed) for source \(name)")
            }
            // The tree came from a backup point: data that is (or lies behind) a link, or of another kind than
            // the source makes, is not put back (a link could make a live path point anywhere).
            let wantsDirectory = source.defaultDestination(source: name).hasSuffix("/")
            guard let kind = Beneath.kind(of: trimmed, in: workspace.directory), kind == (wantsDirectory ? S_IFDIR : S_IFREG) else {
                let failure = StageFailure("the restored \(TerminalText.escaped(trimmed)) of \(workspace.collectPoint) is not "
                                           + (wantsDirectory ? "a directory" : "a regular file")
                                           + " reached without a link, as source \(name) makes: refused (the backup may have been tampered with)")
                workspace.result("\(name): FAILED: \(failure)")
                throw failure
            }
            do {
                let line = try source.putBack(data, request, workspace.context(context, identityFile: identityFile))
                workspace.result("\(name): \(line)")
            } catch let stop as CancellationFlag.Cancelled {
                workspace.result("\(name): interrupted: " + (source.putBackIsAtomic(request)
                    ? "left as it was before the restore" : "it may be partly put back; run the restore again to finish it"))
                throw stop
            } catch {
                // The summary has a line for every source, the ones that failed too.
                workspace.result("\(name): FAILED: \(error)")
                throw error
            }
            return []
        }
    }
}
