import Foundation
import Pipeline
import Stages

/// `polyarchiv list` and `polyarchiv restore`: what the backup points hold, read from the backup points
/// themselves (no local state needed), and getting it back as a planned run through the executor:
/// fetch → undo the backup point's filters → extract → undo the collect point's filters → put sources back.
public enum Restore {
    public struct Listing: Sendable {
        public let backupPoint: String
        public let collectPoint: String
        public let place: String
        /// Newest first: the chosen host's (and those that name no host: git commits, a mirror).
        public let backups: [CatalogEntry]
        /// How many backups other hosts sharing the backup point made, by host.
        public let otherHosts: [String: Int]
    }

    /// Every (backup point, collect point) pair with the backups `host` made (this host by default), newest first.
    public static func list(_ pipeline: CompiledPipeline, collectPoint: String?, backupPoint: String?, host: String? = nil, secrets: Secrets,
                            cancellation: CancellationFlag = CancellationFlag()) throws -> [Listing] {
        let host = host ?? pipeline.host
        try check(pipeline, collectPoint: collectPoint, backupPoint: backupPoint)
        let scratch = try ScratchDirectory("polyarchiv-list")
        defer { scratch.remove() }
        var context = RestoreContext(secrets: secrets, cancellation: cancellation, identityFile: nil, scratch: scratch.path)
        context.host = host
        var listings: [Listing] = []
        for backup in pipeline.backups {
            if let collectPoint, collectPoint != backup.collectPoint { continue }
            if let backupPoint, backupPoint != backup.backupPoint { continue }
            let catalog = try backup.engine.catalog(context)
            // Newest first; the catalogs list oldest first, so equal times keep their order reversed.
            let newestFirst = Array(catalog.entries.reversed()).enumerated()
                .sorted { ($0.element.created, -$0.offset) > ($1.element.created, -$1.offset) }.map(\.element)
            let others = newestFirst.compactMap(\.host).filter { $0 != host }
            listings.append(Listing(backupPoint: backup.backupPoint, collectPoint: backup.collectPoint, place: catalog.place,
                                    backups: newestFirst.filter { $0.host == nil || $0.host == host },
                                    otherHosts: others.reduce(into: [:]) { $0[$1, default: 0] += 1 }))
        }
        return listings
    }

    /// A name that matches nothing is an error that says what exists.
    public static func check(_ pipeline: CompiledPipeline, collectPoint: String?, backupPoint: String?) throws {
        if let collectPoint, !pipeline.collectPoints.contains(where: { $0.name == collectPoint }) {
            let names = pipeline.collectPoints.map(\.name)
            throw StageFailure("there is no collect point `\(collectPoint)`" + Suggestion.didYouMean(collectPoint, among: names)
                               + "; collect points: " + names.joined(separator: ", "))
        }
        if let backupPoint, !pipeline.backupPoints.contains(where: { $0.name == backupPoint }) {
            let names = pipeline.backupPoints.map(\.name)
            throw StageFailure("there is no backup point `\(backupPoint)`" + Suggestion.didYouMean(backupPoint, among: names)
                               + "; backup points: " + (names.isEmpty ? "none" : names.joined(separator: ", ")))
        }
        if let collectPoint, let backupPoint, !pipeline.associations.contains(where: { $0 == (backupPoint, collectPoint) }) {
            throw StageFailure("backup point `\(backupPoint)` does not receive collect point `\(collectPoint)` (their tags do not associate them)")
        }
    }

    /// What to restore: `target/<collect point>` receives each chosen collect point.
    public struct Request: Sendable {
        public var target: String
        public var collectPoint: String?
        public var backupPoint: String?
        /// The newest backup (or commit) at or before this date.
        public var at: Date?
        /// Opens data encrypted to age recipients.
        public var identityFile: String?
        /// From the collect point itself (a git collect point's history, an archive collect point's archive).
        public var fromCollectPoint = false
        public var commit: String?
        /// Sources to put back where they came from (a database, a file…), from the restored data.
        public var sources: [String] = []
        /// Where they go instead of their own place (a database name, a file).
        public var into: String?
        /// Put them back over what is there (a database that holds tables).
        public var replace = false
        /// Put every `files` source back at its own path (what is there moves aside, nothing is deleted).
        public var inPlace = false
        /// Keep setuid/setgid bits of restored files (cleared by default).
        public var keepSpecialBits = false
        /// Backups made by this host (this one by default: hosts sharing a backup point never get each other's).
        public var host: String?
        /// Only the paths these patterns match (`site/img/`, `*.conf`, `**/2026/*`).
        public var paths: [String] = []

        public init(target: String) { self.target = target }
    }

    /// One collect point restored.
    public struct Outcome: Sendable {
        public let collectPoint: String
        /// Where it came from: a backup point, or `git commit ID` of the collect point itself.
        public let source: String
        public let created: Date
        public let directory: String
        public let verifiedIndexes: [String]
        /// What putting sources back did, a line each.
        public let sourceResults: [String]
        /// Entries of the backup that were not restored (device nodes, FIFOs, sockets), a line each.
        public let refused: [String]
    }

    public struct Report: Sendable {
        public let outcomes: [Outcome]
        public let results: [NodeResult]
        public let interrupted: Bool
        let hooks: Set<StageID>

        public var failed: Bool {
            results.contains { !hooks.contains($0.id) && $0.outcome.isFailure } || interrupted || outcomes.contains { !$0.refused.isEmpty }
        }
        public var hookFailed: Bool { results.contains { hooks.contains($0.id) && $0.outcome == .failed } }
        /// 0 restored, 2 something could not be restored, 3 only a restore hook failed, 130 interrupted.
        public var exitCode: Int32 { interrupted ? 130 : (failed ? 2 : (hookFailed ? 3 : 0)) }
    }

    /// The restore's graph: for each chosen collect point, the newest backup (of any associated backup point,
    /// or `--from` one; at or before `--at`) or the collect point's own copy, and the stages that bring it back.
    struct Planned {
        var graph = StageGraph()
        var workspaces: [RestoreWorkspace] = []
        var hooks = Set<StageID>()
        /// What the run would do, a few lines per collect point (`restore --dry-run`).
        var preview: [String] = []
    }

    /// `restore --dry-run`: what would be fetched, from where and which date, where it would go, and what
    /// would be put back (and replaced) — from the same plan a restore runs, without running it.
    public static func preview(_ pipeline: CompiledPipeline, _ request: Request, secrets: Secrets) throws -> [String] {
        var request = request
        if !request.target.hasPrefix("/") { request.target = FileManager.default.currentDirectoryPath + "/" + request.target }
        return try plan(pipeline, request, secrets: secrets, cancellation: CancellationFlag()).preview
    }

    static func plan(_ pipeline: CompiledPipeline, _ request: Request, secrets: Secrets, cancellation: CancellationFlag) throws -> Planned {
        try check(pipeline, collectPoint: request.collectPoint, backupPoint: request.backupPoint)
        var planned = Planned()
        let listings = request.fromCollectPoint ? [] : try list(pipeline, collectPoint: request.collectPoint, backupPoint: request.backupPoint, host: request.host,
                                                                 secrets: secrets, cancellation: cancellation)
        let chosen = request.collectPoint.map { [$0] } ?? pipeline.collectPoints.map(\.name)
        var lastStages: [(StageID, label: String, scope: PointScope)] = []
        var firstStages: [(StageID, scope: PointScope)] = []
        for cp in chosen {
            guard let collect = pipeline.collects[cp] else { continue }
            let workspace = try RestoreWorkspace(collectPoint: cp, target: request.target, keepSpecialBits: request.keepSpecialBits,
                                                 paths: request.paths)
            let fetchID = StageID(.fetch, cp)
            // A backup point's filters apply to its archive when it ships one, else to the tree.
            var filtersOnArchive: [(name: String, engine: any FilterEngine)] = []
            var filtersOnTree: [(name: String, engine: any FilterEngine)] = []
            let origin: FetchStage.Origin
            var label = cp
            var backupScope: PointScope?
            if request.fromCollectPoint {
                origin = .collectPoint(collect.engine, at: request.at, commit: request.commit)
                planned.preview.append("\(cp): from the collect point itself" + (request.commit.map { ", commit \($0)" } ?? "")
                                       + (request.at.map { ", the newest at or before \(ISO8601DateFormatter().string(from: $0))" } ?? ""))
            } else {
                do {
                    let (backupPoint, entry) = try newest(of: cp, in: listings, at: request.at, host: request.host ?? pipeline.host)
                    guard let backup = pipeline.backup(backupPoint, cp) else { continue }
                    origin = .backupPoint(backup.engine, entry, name: backupPoint)
                    if backup.engine.shape.archive != nil { filtersOnArchive = backup.filters } else { filtersOnTree = backup.filters }
                    label = "\(backupPoint) on \(cp)"
                    backupScope = .backupPoint(backupPoint)
                    planned.preview.append("\(cp): the backup of \(ISO8601DateFormatter().string(from: entry.created))"
                                           + (entry.host.map { " by " + TerminalText.escaped($0) } ?? "") + " from \(backupPoint), "
                                           + TerminalText.escaped(Redaction.maskingURLSecrets(entry.location)) + (entry.size.map { " (\($0) bytes)" } ?? ""))
                } catch {
                    // No backup to restore from: the fetch stage fails with the reason, so the hooks report it.
                    origin = .unavailable("\(error)")
                    planned.preview.append("\(cp): nothing to restore: \(error)")
                }
            }
            // The chain, in order; the last stage that shapes the tree gives it its final name.
            var chain: [(StageID, String, (Bool) -> any StageWork)] = []
            chain.append((fetchID, "fetch", { FetchStage(origin: origin, workspace: workspace, identityFile: request.identityFile, finishes: $0) }))
            for filter in filtersOnArchive.reversed() {
                chain.append((StageID(.unfilter, cp, filter.name), "undo \(filter.name)", {
                    UnfilterStage(filter: filter.engine, workspace: workspace, identityFile: request.identityFile, onArchive: true, finishes: $0)
                }))
            }
            // Extracts what was fetched when it is an archive (a tree arrives as it is).
            chain.append((StageID(.extract, cp), "extract", { ExtractStage(workspace: workspace, finishes: $0) }))
            // In the order they ran (the collect point's, then the backup point's on the tree it ships), undone
            // last to first: the backup point's encryption comes off before the collect point's index is checked.
            for filter in (collect.filters.map { ($0.name, $0.engine) } + filtersOnTree).reversed() {
                chain.append((StageID(.unfilter, cp, "tree", filter.name), "undo \(filter.name)", {
                    UnfilterStage(filter: filter.engine, workspace: workspace, identityFile: request.identityFile, onArchive: false, finishes: $0)
                }))
            }
            planned.preview.append("  into \(workspace.directory) (which must be new or empty), through: "
                                   + chain.map(\.1).joined(separator: ", ")
                                   + (request.paths.isEmpty ? "" : "; then only the paths matching " + request.paths.joined(separator: ", ")))
            var previous: StageID?
            for (index, (id, summary, make)) in chain.enumerated() {
                try planned.graph.add(StageNode(id: id, engine: "restore", work: make(index == chain.count - 1), summary: summary))
                if let previous { try planned.graph.connect(previous, id, placement: .order, label: "then") }
                previous = id
            }
            var last = previous!
            let putBackRequest = PutBackRequest(into: request.into, replace: request.replace, inPlace: request.inPlace, date: Date())
            var sources = collect.sources
            if !request.sources.isEmpty {
                for name in request.sources where !sources.contains(where: { $0.name == name }) {
                    throw StageFailure("collect point \(cp) has no source \(name)" + Suggestion.didYouMean(name, among: collect.sources.map(\.name)))
                }
                sources = sources.filter { request.sources.contains($0.name) }
            } else if !request.inPlace {
                sources = []
            }
            // One after the other in the engines' order (files, then databases, the directory, mail, commands),
            // each once the tree is whole, whether the one before succeeded or not: one failure costs only its source.
            let tree = last
            var putBacks: [StageID] = []
            for source in sources.sorted(by: { $0.engine.putBackOrder < $1.engine.putBackOrder }) {
                planned.preview.append("  then put back source \(source.name) (\(type(of: source.engine).spec.name)) from \(source.destination)"
                                       + (request.into.map { " into \($0)" } ?? " where it came from")
                                       + (request.replace ? ", replacing what is there" : !request.inPlace ? ""
                                          : source.engine.movesAsideInPlace ? ", what is there moved aside"
                                          : ", refused if something is already there (add --replace)")
                                       + (source.engine.putBackNote(putBackRequest).map { " (\($0))" } ?? ""))
                let id = StageID(.putback, cp, source.name)
                try planned.graph.add(StageNode(id: id, engine: type(of: source.engine).spec.name,
                                                work: PutBackStage(source: source.engine, name: source.name, destination: source.destination,
                                                                   request: putBackRequest, workspace: workspace, identityFile: request.identityFile),
                                                summary: "put back \(source.name)"))
                try planned.graph.connect(tree, id, placement: .order, label: "then")
                if let previous = putBacks.last { try planned.graph.connect(previous, id, placement: .after, label: "after") }
                putBacks.append(id)
                last = id
            }
            planned.workspaces.append(workspace)
            firstStages.append((fetchID, .collectPoint(cp)))
            // The hooks after the restore see every put-back, not only the last one.
            for stage in [last] + putBacks.dropLast() {
                lastStages.append((stage, label, .collectPoint(cp)))
                if let backupScope { lastStages.append((stage, label, backupScope)) }
            }
            if let backupScope { firstStages.append((fetchID, backupScope)) }
        }
        // Before: the global hooks once, then per collect point its own hooks and those of the backup point it
        // comes from, in that order; after, the other way round.
        func beforeHook(_ hook: CompiledPipeline.RestoreHook, _ id: StageID) throws -> StageID {
            try planned.graph.add(StageNode(id: id, engine: type(of: hook.hook).spec.name,
                                            work: HookStage(hook: hook.hook, events: [.beforeRestore], phase: .before, pointLabels: [:]),
                                            runsAfterFailure: true, summary: "before_restore"))
            planned.hooks.insert(id)
            return id
        }
        var heads: [StageID] = []
        for first in firstStages.map(\.0).uniqued() {
            var next = first
            for scope in firstStages.filter({ $0.0 == first }).map(\.scope).reversed() {
                for hook in pipeline.restoreHooks.reversed() where hook.scope == scope && hook.events.contains(.beforeRestore) {
                    let id = try beforeHook(hook, StageID(.notify, scope.name, hook.name, "before", first.path.joined(separator: "/")))
                    try planned.graph.connect(id, next, placement: hook.hook.blocksItsScopeOnFailure ? .order : .after, label: "start")
                    next = id
                }
            }
            heads.append(next)
        }
        var globalBefore: StageID?
        for hook in pipeline.restoreHooks where hook.scope == .global && hook.events.contains(.beforeRestore) && !heads.isEmpty {
            let id = try beforeHook(hook, StageID(.notify, "global", hook.name, "before"))
            if let globalBefore { try planned.graph.connect(globalBefore, id, placement: .after, label: "then") }
            globalBefore = id
        }
        if let globalBefore { for head in heads { try planned.graph.connect(globalBefore, head, placement: .after, label: "start") } }
        // After: a backup point's hooks first, then its collect point's, then the global ones; each sees the last
        // stages of its scope, and waits for the hooks of the scopes inside it.
        var plannedAfter: [(id: StageID, stages: Set<StageID>)] = []
        func isBackupPoint(_ scope: PointScope) -> Bool { if case .backupPoint = scope { return true } else { return false } }
        let tiers: [[PointScope]] = [Array(Set(lastStages.map(\.scope).filter(isBackupPoint))),
                                     Array(Set(lastStages.map(\.scope).filter { $0 != .global && !isBackupPoint($0) })), [.global]]
        for tier in tiers {
            var thisTier: [(id: StageID, stages: Set<StageID>)] = []
            for scope in tier.sorted(by: { $0.name < $1.name }) {
                let lasts = scope == .global ? lastStages.filter { !isBackupPoint($0.scope) } : lastStages.filter { $0.scope == scope }
                guard !lasts.isEmpty else { continue }
                let labels = Dictionary(lasts.map { ($0.0, $0.label) }, uniquingKeysWith: { first, _ in first })
                var previous: StageID?
                for hook in pipeline.restoreHooks where hook.scope == scope {
                    let events = hook.events.filter { $0 != .beforeRestore }
                    guard !events.isEmpty else { continue }
                    let id = StageID(.notify, scope.name, hook.name, "after")
                    // Its log: what led to the points it reports (a failed fetch says why they were not restored).
                    let logged = (planned.graph.ancestors(of: labels.keys).filter { $0.kind != .notify } + lasts.map(\.0)).uniqued()
                    try planned.graph.add(StageNode(id: id, engine: type(of: hook.hook).spec.name,
                                                    work: HookStage(hook: hook.hook, events: events, phase: .after, pointLabels: labels,
                                                                    logged: logged),
                                                    runsAfterFailure: true, summary: events.map(\.rawValue).joined(separator: ", ")))
                    for stage in labels.keys { try planned.graph.connect(stage, id, placement: .after, label: "status") }
                    for inner in plannedAfter where !inner.stages.isDisjoint(with: labels.keys) {
                        try planned.graph.connect(inner.id, id, placement: .after, label: "then")
                    }
                    if let previous { try planned.graph.connect(previous, id, placement: .after, label: "then") }
                    previous = id
                    planned.hooks.insert(id)
                    thisTier.append((id, Set(labels.keys)))
                }
            }
            plannedAfter += thisTier
        }
        return planned
    }

    /// Restores each chosen collect point through the executor: cancellable, with progress, recorded in the
    /// journal when there is a state directory. What did not finish leaves nothing behind.
    public static func run(_ pipeline: CompiledPipeline, _ request: Request, state: StateDirectory?, secrets: Secrets,
                           cancellation: CancellationFlag, events: @escaping @Sendable (ExecutionEvent) -> Void = { _ in }) async throws -> Report {
        var request = request
        request.target = try resolvedTarget(request.target)
        let planned = try plan(pipeline, request, secrets: secrets, cancellation: cancellation)
        defer { for workspace in planned.workspaces { workspace.cleanUp() } }
        let scratch = try ScratchDirectory("polyarchiv-restore-state")
        defer { scratch.remove() }
        // The journal of the state directory when there is one (the run is recorded), else a scratch one.
        let stateURL = state.flatMap { $0.exists ? $0.url : nil } ?? URL(fileURLWithPath: scratch.path)
        let journal = try Journal(path: stateURL.appendingPathComponent("journal.sqlite").path)
        let store = try ContentStore(root: URL(fileURLWithPath: scratch.path).appendingPathComponent("store"))
        let fingerprinter = Fingerprinter(keyData: Data((0..<32).map { _ in UInt8.random(in: 0...255) }))
        let runID = try journal.startRun(command: "restore", at: Date())
        let pool = BlockingPool(threads: 4)
        defer { pool.shutdown() }
        let decider = Decider(store: store, journal: journal, fingerprinter: fingerprinter, secrets: secrets, presets: [:], quick: false)
        let results = await Executor(graph: planned.graph, decider: decider, store: store, journal: journal, pool: pool,
                                     fingerprinter: fingerprinter, configuration: .init(jobs: 2) { _ in 1 }, events: events,
                                     cancellation: cancellation, date: Date(), runID: runID, stateDirectory: URL(fileURLWithPath: scratch.path)).run()
        let interrupted = cancellation.isCancelled
        try journal.finishRun(runID, status: interrupted ? "interrupted" : (results.contains { $0.outcome.isFailure } ? "failed" : "succeeded"),
                              at: Date())
        let outcomes = planned.workspaces.filter(\.finished).map {
            Outcome(collectPoint: $0.collectPoint, source: $0.source, created: $0.created, directory: $0.directory,
                    verifiedIndexes: $0.verifiedIndexes, sourceResults: $0.results, refused: $0.refused)
        }
        return Report(outcomes: outcomes, results: results, interrupted: interrupted, hooks: planned.hooks)
    }

    /// The target as an absolute path with its links resolved (`/backup -> /mnt/nas/backup`), created when missing.
    static func resolvedTarget(_ target: String) throws -> String {
        let absolute = target.hasPrefix("/") ? target : FileManager.default.currentDirectoryPath + "/" + target
        try FileManager.default.createDirectory(atPath: absolute, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard let resolved = realpath(absolute, nil) else { throw StageFailure("cannot use \(target) as the restore target: \(FileIO.lastError)") }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func newest(of cp: String, in listings: [Listing], at: Date?, host: String?) throws -> (String, CatalogEntry) {
        let candidates = listings.filter { $0.collectPoint == cp }.flatMap { listing in
            listing.backups.filter { at == nil || $0.created <= at! }.map { (listing.backupPoint, $0) }
        }
        // Newest first; between equal times (commits of the same second), the later in the backup point's list.
        guard let newest = candidates.enumerated().max(by: { ($0.element.1.created, -$0.offset) < ($1.element.1.created, -$1.offset) })?.element else {
            let places = listings.filter { $0.collectPoint == cp }.map(\.place)
            let others = listings.filter { $0.collectPoint == cp }.flatMap(\.otherHosts.keys).uniqued().sorted()
            throw StageFailure("no backup of collect point \(cp)" + (host.map { " by host \($0)" } ?? "") + " found"
                               + (at.map { " at or before \(ISO8601DateFormatter().string(from: $0))" } ?? "")
                               + (places.isEmpty ? " (no backup point receives it)" : " in " + places.joined(separator: ", "))
                               + (others.isEmpty ? "; a backup another host made is restored with --host NAME"
                                  : "; other hosts made backups of it there (\(others.joined(separator: ", "))): choose one with --host"))
        }
        return newest
    }
}

extension Sequence where Element: Hashable {
    /// The elements in their order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
