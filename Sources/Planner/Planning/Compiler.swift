import Foundation
import Pipeline
import Stages

/// Compiles a validated configuration into the stage graph: dumps → collect-point filters → collect →
/// per associated backup point: (archive) → backup-point filters → upload → (prune), with hooks around.
/// Every engine decodes its typed configuration here, once; what it gets wrong is a configuration error.
public struct Compiler {
    let config: PipelineConfig
    let builtins: BuiltinVariables
    var parameters: ParameterCompiler
    var result: CompiledPipeline
    /// Derived nodes by what they compute, so two backup points that need the same thing share one node.
    private var sharedNodes: [String: StageID] = [:]

    public static func compile(_ config: PipelineConfig, builtins: BuiltinVariables = .current(),
                               secrets: Secrets = Secrets(environment: ProcessInfo.processInfo.environment)) throws -> CompiledPipeline {
        var compiler = Compiler(config: config, builtins: builtins, parameters: ParameterCompiler(secrets: secrets),
                                result: CompiledPipeline(date: builtins.date, host: builtins.hostname))
        try compiler.run()
        return compiler.result
    }

    private var sink: DiagnosticSink {
        get { parameters.sink }
        set { parameters.sink = newValue }
    }

    private mutating func run() throws {
        for diagnostic in config.diagnostics { sink.error(diagnostic.message, at: diagnostic.location) }
        result.stateDirectory = config.stateDirectory?.path
        checkNames()
        let global = layered(VariableScope(builtins.values).overlaid(with: ["name": "global"]), config.variables, "variables")
        for point in config.collectPoints { compileCollectPoint(point, global) }
        for point in config.backupPoints { compileBackupPoint(point, global) }
        compileHooks(config.hooks, scope: .global, variables: global, context: "global hooks", before: entryNodes(), after: exitNodes())
        checkPlacesAreUnique()
        checkNoCollectPointWritesIntoItsSources()
        result.warnings = parameters.warnings
        do {
            _ = try result.graph.topologicalOrder()
        } catch {
            sink.error("\(error)", at: nil)
        }
        try sink.check()
    }

    // MARK: - Variables

    /// `scope` with user variables laid over it; each value may use the variables beneath it.
    /// Names the program sets: a user variable of that name would silently change what they mean.
    private var reservedNames: Set<String> { Set(builtins.values.keys).union(["name", "collect_point", "backup_point"]) }

    private mutating func layered(_ scope: VariableScope, _ definitions: VariableDefinitions, _ what: String) -> VariableScope {
        var current = scope
        for (index, (name, raw, location)) in definitions.entries.enumerated() {
            if reservedNames.contains(name) {
                sink.error("`\(name)` is a built-in variable (\(BuiltinVariables.meaning(of: name))); it cannot be redefined: "
                           + "choose another name", at: location)
                continue
            }
            let template: Template
            do {
                template = try Template(parsing: raw)
            } catch {
                sink.error("in variable `\(name)`: \(error)", at: location)
                continue
            }
            // A variable used above the line that defines it: say where it is.
            do {
                _ = try template.expand(current)
            } catch let missing as Template.MissingVariables {
                if let first = definitions.entries[(index + 1)...].first(where: { missing.names.contains($0.name) }) {
                    sink.error("variable `\(name)` uses `{\(first.name)}`, which is defined below it (line \(first.location.line)); variables "
                               + "may use only those above them: move this line under that one", at: location)
                    continue
                }
            } catch {}
            if let value = parameters.expand(template, current, location, name, what) {
                current = current.overlaid(with: [name: value])
            }
        }
        return current
    }

    private func collectPointScope(_ point: CollectPointConfig, _ global: VariableScope) -> VariableScope {
        global.overlaid(with: ["name": point.name, "collect_point": point.name])
    }

    // MARK: - Engines

    /// An engine's parameters compiled in `scope`, and its typed configuration decoded from them; what it
    /// refuses is reported at the parameter it names.
    private mutating func engine<T>(_ instance: EngineInstance, scope: VariableScope, context: String,
                                    _ make: (EngineParameters) throws -> T) -> (T, Parameters)? {
        let reported = sink.diagnostics.count
        let compiled = parameters.compile(instance, scope: scope, context: context)
        // What could not be compiled was reported already: decoding the rest would only say it again.
        guard sink.diagnostics.count == reported else { return nil }
        do {
            let made = try make(EngineParameters(compiled))
            if let url = compiled.string("url") {
                let given = Set(instance.parameters.map(\.spec.name))
                let (scheme, ignored) = TransportParameters.ignored(given, for: url)
                for name in ignored {
                    parameters.warnings.append(Diagnostic("\(context): `\(name)` is not used by \(scheme):// URLs; "
                                                          + "remove it (or check the URL)", at: instance.parameter(name)?.location))
                }
            }
            return (made, compiled)
        } catch let error as ConfigurationError {
            let location = error.parameter.flatMap { instance.parameter($0)?.location } ?? instance.location
            sink.error("\(context): \(error.message)", at: location)
        } catch {
            sink.error("\(context): \(error)", at: instance.location)
        }
        return nil
    }

    // MARK: - Collect points

    private mutating func compileCollectPoint(_ point: CollectPointConfig, _ global: VariableScope) {
        let scope = layered(collectPointScope(point, global), point.variables, "collect point `\(point.name)`")
        result.collectPoints.append(.init(name: point.name, kind: .collectPoint, engine: point.engine.spec.name,
                                          frequency: point.frequency, tags: point.tags, location: point.location))
        var outputs: [(id: StageID, placement: Placement)] = []
        var destinations: [(String, SourceLocation)] = []
        var sources: [CompiledPipeline.Source] = []
        for source in point.sources {
            let context = "source `\(source.name)` of `\(point.name)`"
            guard let engineType = Engines.source(source.spec.name),
                  let (engine, compiled) = engine(source, scope: scope, context: context, { try engineType.init($0) }) else {
                // Its other problems are reported; a destination it states is still checked against the others.
                if let given = source.parameter("destination"), case .text(let template, _) = given.value,
                   let text = try? template.expand(scope) {
                    checkDestination(Self.normalise(text), given.location, &destinations)
                }
                continue
            }
            let destination = Self.normalise(compiled.string("destination") ?? engine.defaultDestination(source: source.name))
            var cacheParameters = compiled
            cacheParameters["destination"] = nil
            checkDestination(destination, source.parameter("destination")?.location ?? source.location, &destinations)
            let id = StageID.dump(point.name, source.name)
            add(StageNode(id: id, engine: source.spec.name, work: engine, parameters: cacheParameters, resourceKeys: engine.resourceKeys,
                          summary: "\(engine.summary) → \(destination)"), role: .dump(collectPoint: point.name, source: source.name),
                at: source.location)
            outputs.append((id, .path(destination)))
            sources.append(.init(name: source.name, engine: engine, destination: destination))
        }
        var filters: [(name: String, engine: any FilterEngine)] = []
        for filter in point.filters {
            let context = "filter `\(filter.name)` of `\(point.name)`"
            guard let engineType = Engines.filter(filter.spec.name),
                  let (engine, compiled) = engine(filter, scope: scope, context: context, { try engineType.init($0) }) else { continue }
            let id = StageID.collectFilter(point.name, filter.name)
            add(StageNode(id: id, engine: filter.spec.name, work: engine, parameters: compiled, summary: engine.summary),
                role: .collectFilter(collectPoint: point.name, filter: filter.name), at: filter.location)
            for output in outputs { connect(output.id, id, output.placement) }
            outputs = [(id, .root)]
            filters.append((filter.name, engine))
        }
        let context = "collect point `\(point.name)`"
        guard let engineType = Engines.collectPoint(point.engine.spec.name),
              let (collect, compiled) = engine(point.engine, scope: scope, context: context, { try engineType.init($0) }) else { return }
        let collectID = StageID.collect(point.name)
        add(StageNode(id: collectID, engine: point.engine.spec.name, work: collect, parameters: compiled, summary: collect.summary),
            role: .collect(collectPoint: point.name), at: point.location)
        for output in outputs { connect(output.id, collectID, output.placement) }
        result.collects[point.name] = .init(engine: collect, sources: sources, filters: filters)
        compileHooks(point.hooks, scope: .collectPoint(point.name), variables: scope, context: context,
                     before: point.sources.map { .dump(point.name, $0.name) }, after: [collectID])
    }

    /// `./db/../x` style noise removed: `.` components dropped, a trailing `/` (a directory) kept.
    static func normalise(_ destination: String) -> String {
        let components = destination.split(separator: "/").filter { $0 != "." }
        guard !components.isEmpty else { return destination }
        let joined = components.joined(separator: "/")
        return destination.hasSuffix("/") ? joined + "/" : joined
    }

    private mutating func checkDestination(_ destination: String, _ location: SourceLocation, _ seen: inout [(String, SourceLocation)]) {
        let components = destination.split(separator: "/")
        if destination.hasPrefix("/") || components.contains("..") || components.isEmpty {
            sink.error("`destination` `\(destination)` must be a relative path inside the collect point, without `..`", at: location)
            return
        }
        let normalised = components.joined(separator: "/")
        for (other, otherLocation) in seen {
            if normalised == other || normalised.hasPrefix(other + "/") || other.hasPrefix(normalised + "/") {
                sink.error("`destination` `\(destination)` overlaps `\(other)` of the source at \(otherLocation); "
                           + "give each source its own destination", at: location)
            }
        }
        seen.append((normalised, location))
    }

    // MARK: - Backup points

    private mutating func compileBackupPoint(_ point: BackupPointConfig, _ global: VariableScope) {
        result.backupPoints.append(.init(name: point.name, kind: .backupPoint, engine: point.engine.spec.name,
                                         frequency: point.frequency, tags: point.tags, location: point.location,
                                         verifyFrequency: verifyFrequency(point)))
        for (cp, location, _) in point.variablesFor where !config.collectPoints.contains(where: { $0.name == cp }) {
            sink.error("`variables_for` names collect point `\(cp)`, which does not exist"
                       + Suggestion.didYouMean(cp, among: config.collectPoints.map(\.name)), at: location)
        }
        let bpScope = layered(global.overlaid(with: ["name": point.name, "backup_point": point.name]), point.variables,
                              "backup point `\(point.name)`")
        var lastNodes: [StageID] = []
        var firstNodes: [StageID] = []
        for cp in config.collectPoints where Association.associates(
            collectPointLabels: cp.tags + [cp.name], rule: cp.rule, backupPointLabels: point.tags + [point.name], rule: point.rule) {
            result.associations.append((point.name, cp.name))
            var scope = layered(collectPointScope(cp, bpScope), cp.variables, "collect point `\(cp.name)`")
            scope = scope.overlaid(with: ["backup_point": point.name])
            if let extra = point.variablesFor.first(where: { $0.collectPoint == cp.name }) {
                scope = layered(scope, extra.variables, "variables_for.\(cp.name)")
            }
            if let (first, lasts) = compilePair(point, cp, scope: scope) {
                firstNodes.append(first)
                lastNodes += lasts
            }
        }
        compileHooks(point.hooks, scope: .backupPoint(point.name), variables: bpScope, context: "backup point `\(point.name)`",
                     before: firstNodes, after: lastNodes)
    }

    /// `verify_frequency` of a backup point that verifies (`verify: true`, the default).
    private func verifyFrequency(_ point: BackupPointConfig) -> Frequency? {
        if case .bool(false)? = point.engine.parameter("verify")?.value { return nil }
        if case .frequency(let frequency)? = point.engine.parameter("verify_frequency")?.value { return frequency }
        return .weekly(weekday: 1)
    }

    /// The nodes of one (backup point, collect point) pair; returns its first node id and the ids of its
    /// last nodes (the upload or retention, and the verification).
    private mutating func compilePair(_ point: BackupPointConfig, _ cp: CollectPointConfig, scope: VariableScope) -> (StageID, [StageID])? {
        let context = "backup point `\(point.name)` for `\(cp.name)`"
        guard let collect = result.collects[cp.name] else { return nil }
        var filters: [(name: String, engine: any FilterEngine, parameters: Parameters)] = []
        for filter in point.filters {
            guard let engineType = Engines.filter(filter.spec.name),
                  let (engine, compiled) = engine(filter, scope: scope, context: "filter `\(filter.name)` of \(context)", { try engineType.init($0) })
            else { continue }
            filters.append((filter.name, engine, compiled))
        }
        var metadataURL: String?
        if let metadata = point.engine.parameter("metadata_url"), case .text(let template, _) = metadata.value {
            metadataURL = parameters.expand(template, scope, metadata.location, "metadata_url", context)
            // A directory (the original's trailing `/`): the document gets the name it would have beside the backups.
            if let directory = metadataURL, directory.hasSuffix("/") {
                metadataURL = directory + "\(point.name)-\(cp.name).\(builtins.hostname).polyarchiv.json"
            }
        }
        var pair = Pair(backupPoint: point.name, collectPoint: cp.name, collect: collect.engine, filters: filters.map(\.engine),
                        variables: scope.values, metadataURL: metadataURL, host: builtins.hostname)
        pair.rowCountedDumps = collect.sources.filter { $0.engine.countsRows }
            .map { (StageID.dump(cp.name, $0.name).description, $0.destination) }
        guard let engineType = Engines.backupPoint(point.engine.spec.name),
              let (engine, compiled) = engine(point.engine, scope: scope, context: context, { try engineType.init($0, pair: pair) })
        else { return nil }
        result.backups.append(.init(backupPoint: point.name, collectPoint: cp.name, engine: engine, parameters: compiled,
                                    filters: filters.map { ($0.name, $0.engine) }))
        let shape = engine.shape
        var current = StageID.collect(cp.name)
        var first: StageID?
        if let request = shape.archive {
            let variant = request.format.rawValue + (request.level.map { "-\($0)" } ?? "")
            let work = ArchiveStage(request, collectPoint: cp.name)
            let id = shared(.archive(cp.name, variant), signature: "archive|\(cp.name)|\(variant)") {
                StageNode(id: $0, engine: "archive", work: work, parameters: work.parameters, summary: "\(request.format.rawValue) of \(cp.name)")
            } role: { .archive(collectPoint: cp.name) }
            connect(current, id, .root)
            current = id
            first = id
        }
        for filter in filters {
            let signature = "filter|\(filter.engine)|\(current)|\(describe(filter.parameters))"
            let id = shared(.backupFilter(point.name, cp.name, filter.name), signature: signature) {
                StageNode(id: $0, engine: type(of: filter.engine).spec.name, work: filter.engine, parameters: filter.parameters,
                          summary: filter.engine.summary)
            } role: { .backupFilter(backupPoint: point.name, collectPoint: cp.name, filter: filter.name) }
            connect(current, id, .root)
            current = id
            first = first ?? id
        }
        let uploadID = StageID.upload(point.name, cp.name)
        add(StageNode(id: uploadID, engine: point.engine.spec.name, work: shape.upload.work, parameters: shape.upload.parameters,
                      resourceKeys: shape.upload.resourceKeys, summary: shape.upload.summary),
            role: .upload(backupPoint: point.name, collectPoint: cp.name), at: point.location)
        connect(current, uploadID, .root)
        // An archive's upload sees the tree it holds: its listing goes beside it (unless a filter hides what it
        // ships: the names stay encrypted too), and the row counts of its dumps go in the metadata document.
        if shape.archive != nil {
            connect(.collect(cp.name), uploadID, .listing, label: "listing")
        }
        var last = uploadID
        if let prune = shape.prune {
            let pruneID = StageID.prune(point.name, cp.name)
            add(StageNode(id: pruneID, engine: point.engine.spec.name, work: prune.work, parameters: prune.parameters,
                          resourceKeys: prune.resourceKeys, summary: prune.summary),
                role: .prune(backupPoint: point.name, collectPoint: cp.name), at: point.location)
            connect(uploadID, pruneID, .order, label: "backup list")
            last = pruneID
        }
        if let parameter = shape.metadataBesideParameter, let metadata = shape.metadataURL {
            warnIfTimeDependent(parameter, metadata: metadata, point: point, scope: scope, context: context)
        }
        places.append(contentsOf: shape.places.map { ($0, uploadID, point.location) })
        directories.append(contentsOf: shape.directories.map { ($0, uploadID, point.location) })
        var lasts = [last]
        if let frequency = verifyFrequency(point) {
            // After the backup however it went (a failed upload leaves the newest earlier backup to check).
            let verifyID = StageID.verify(point.name, cp.name)
            var drills: [VerifyStage.Drill] = []
            if case .bool(true)? = point.engine.parameter("verify_drill")?.value {
                drills = collect.sources.filter { $0.engine.countsRows }
                    .map { VerifyStage.Drill(source: $0.name, engine: $0.engine, destination: $0.destination) }
            }
            let opener = BackupOpener(shipsArchive: shape.archive != nil, backupPointFilters: filters.map { $0.engine },
                                      collectPointFilters: collect.filters.map { $0.engine })
            let work = VerifyStage(engine: engine, host: builtins.hostname, opener: opener, drills: drills)
            add(StageNode(id: verifyID, engine: point.engine.spec.name, work: work,
                          resourceKeys: shape.upload.resourceKeys, summary: "verify the newest backup (\(frequency))"),
                role: .verify(backupPoint: point.name, collectPoint: cp.name), at: point.location)
            connect(last, verifyID, .after, label: "then")
            lasts.append(verifyID)
        }
        return (first ?? uploadID, lasts)
    }

    /// What backup points write, for the check that no two stages write the same place.
    private var places: [(place: String, stage: StageID, location: SourceLocation)] = []
    /// The directories backup points mirror into (see `BackupShape.directories`).
    private var directories: [(place: String, stage: StageID, location: SourceLocation)] = []

    /// A metadata document must be found again on a fresh machine, at another time: its default place (the
    /// directory of `parameter`) must not depend on the date or time.
    private mutating func warnIfTimeDependent(_ name: String, metadata: String, point: BackupPointConfig, scope: VariableScope,
                                              context: String) {
        guard let parameter = point.engine.parameter(name), case .text(let template, _) = parameter.value else { return }
        let other = BuiltinVariables(date: builtins.date.addingTimeInterval(400 * 86_400 + 3_723), hostname: builtins.hostname,
                                     fqdn: builtins.fqdn, username: builtins.username)
        let letters = other.values.filter { $0.key.count == 1 }
        guard let now = try? template.expand(scope), let later = try? template.expand(scope.overlaid(with: letters)),
              RemotePath.directory(of: later) != RemotePath.directory(of: now) else { return }
        parameters.warnings.append(Diagnostic(
            "the directory of `\(name)` of \(context) changes with the date or time, so the metadata document beside the "
            + "backups cannot be found again to list or restore them; set `metadata_url` to a fixed place", at: parameter.location))
    }

    // MARK: - Hooks

    private mutating func compileHooks(_ hooks: [EngineInstance], scope: PointScope, variables: VariableScope, context: String,
                                       before: [StageID], after: [StageID]) {
        for instance in hooks {
            guard case .events(let events)? = instance.parameter("events")?.value, let engineType = Engines.hook(instance.spec.name) else { continue }
            // Known only when the hook fires: left as placeholders that the hook stage fills in.
            let hookScope = variables.overlaid(with: ["status": "{status}", "detailed_status": "{detailed_status}",
                                                      "complete_log": "{complete_log}", "event": "{event}"])
            let hookContext = "hook `\(instance.name)` of \(context)"
            guard let (hook, compiled) = engine(instance, scope: hookScope, context: hookContext, { try engineType.init($0) }) else { continue }
            let restoreEvents = events.filter(\.isRestore)
            if !restoreEvents.isEmpty {
                result.restoreHooks.append(.init(scope: scope, name: instance.name, hook: hook, events: restoreEvents))
            }
            let beforeEvents = events.filter { $0 == .beforeBackup }
            if !beforeEvents.isEmpty {
                let id = StageID.hook(scope, instance.name, .before)
                add(StageNode(id: id, engine: instance.spec.name, work: HookStage(hook: hook, events: beforeEvents, phase: .before, pointLabels: [:]),
                              parameters: compiled, runsAfterFailure: true, summary: "\(instance.spec.name) on before_backup"),
                    role: .hook(scope, hook: instance.name, phase: .before), at: instance.location)
                // A notification never costs a backup: only a hook that says so stops its scope when it fails.
                for target in before { connect(id, target, hook.blocksItsScopeOnFailure ? .order : .after, label: "start") }
            }
            let afterEvents = events.filter { [.backupSuccess, .backupError, .afterBackup, .verifyError].contains($0) }
            if !afterEvents.isEmpty {
                let id = StageID.hook(scope, instance.name, .after)
                var labels: [StageID: String] = [:]
                for source in after { labels[source] = pointLabel(source) }
                add(StageNode(id: id, engine: instance.spec.name,
                              work: HookStage(hook: hook, events: afterEvents, phase: .after, pointLabels: labels, logged: stages(of: scope)),
                              parameters: compiled, runsAfterFailure: true,
                              summary: "\(instance.spec.name) on " + afterEvents.map(\.rawValue).joined(separator: ", ")),
                    role: .hook(scope, hook: instance.name, phase: .after), at: instance.location)
                for source in after { connect(source, id, .after, label: "status") }
            }
        }
    }

    /// What a hook's `{complete_log}` lists: every stage of its scope (a backup point's with the archives it
    /// ships), hooks aside, in the order they were added.
    private func stages(of scope: PointScope) -> [StageID] {
        result.graph.nodes.map(\.id).filter { id in
            guard id.kind != .notify, let role = result.roles[id] else { return false }
            switch scope {
            case .global: return true
            case .collectPoint: return role.scope == scope
            case .backupPoint:
                if role.scope == scope { return true }
                guard case .archive = role else { return false }
                return result.graph.outputs(of: id).contains { result.roles[$0.to]?.scope == scope }
            }
        }
    }

    /// `www` for a collect point's last stage; `offsite on www` for a backup of one.
    private func pointLabel(_ id: StageID) -> String? {
        guard let role = result.roles[id] else { return nil }
        if let bp = role.backupPoint, let cp = role.collectPoint { return "\(bp) on \(cp)" }
        return role.collectPoint
    }

    /// Nodes with no input: where a run starts.
    private func entryNodes() -> [StageID] {
        result.graph.nodes.filter { result.graph.inputs(of: $0.id).isEmpty && $0.kind != .notify }.map(\.id)
    }

    /// Nodes nothing depends on (hooks aside): where a run ends.
    private func exitNodes() -> [StageID] {
        // A verification after a backup leaves the backup an end of the run (its hooks report both).
        result.graph.nodes.filter { node in
            node.kind != .notify && !result.graph.outputs(of: node.id).contains { ![.notify, .verify].contains(result.graph.node($0.to)?.kind) }
        }.map(\.id)
    }

    /// What a collect point's own stages write (its path, its uploads to local files) inside one of its
    /// sources would be read by its next run: a copy nested deeper every night (`backup/www/backup/www/…`).
    private mutating func checkNoCollectPointWritesIntoItsSources() {
        for point in config.collectPoints {
            guard let collect = result.collects[point.name] else { continue }
            var written = [(place: collect.engine.path, stage: StageID.collect(point.name),
                            location: point.engine.parameter("path")?.location ?? point.location)]
            written += (places + directories).filter { $0.stage.kind == .upload && $0.stage.path.last == point.name }
            for (place, stage, location) in written {
                guard let local = RemotePath.localPath(place) else { continue }
                for source in collect.sources where source.engine.reads(local) {
                    sink.error("\(stage) writes \(local), inside what source `\(source.name)` of `\(point.name)` backs up: each run would "
                               + "back up the one before into itself; put it outside the source, or exclude it there", at: location)
                }
            }
        }
    }

    /// Two stages writing the same place would destroy each other's data: a collect point path, an upload
    /// URL or a metadata document may be used once.
    private mutating func checkPlacesAreUnique() {
        var all: [(place: String, stage: StageID, location: SourceLocation)] = []
        for point in config.collectPoints {
            if let collect = result.collects[point.name] { all.append((collect.engine.path, .collect(point.name), point.location)) }
        }
        all += places
        func normalised(_ place: String) -> String {
            let path = place.hasPrefix("file://") ? String(place.dropFirst("file://".count)) : place
            return path.hasSuffix("/") ? String(path.dropLast()) : path
        }
        // A directory a stage makes hold exactly its tree (a files or git collect point, a mirror) deletes
        // whatever else lies inside it: no other place may.
        var owned = directories
        for point in config.collectPoints {
            if let collect = result.collects[point.name], collect.engine.treeDirectory != nil {
                owned.append((collect.engine.path, .collect(point.name), point.location))
            }
        }
        result.ownedDirectories = owned.map { normalised($0.place) }
        for directory in owned {
            let root = normalised(directory.place) + "/"
            for (place, stage, location) in all + directories where stage != directory.stage && normalised(place).hasPrefix(root) {
                sink.error("\(stage) writes \(Redaction.maskingURLSecrets(place)), inside \(Redaction.maskingURLSecrets(directory.place)), "
                           + "which \(directory.stage) makes hold only its own data (it would delete it); give them places apart",
                           at: location)
            }
        }
        var seen: [String: StageID] = [:]
        for (place, stage, location) in all {
            let trimmed = normalised(place)
            if let other = seen[trimmed], other != stage {
                sink.error("\(stage) and \(other) would both write \(Redaction.maskingURLSecrets(place)); they would overwrite each other, "
                           + "so make it depend on {name}", at: location)
            } else {
                seen[trimmed] = stage
            }
        }
    }

    // MARK: - Helpers

    private mutating func checkNames() {
        let collectNames = Set(config.collectPoints.map(\.name))
        for point in config.backupPoints where collectNames.contains(point.name) {
            sink.error("backup point `\(point.name)` has the name of a collect point; names must be unique across both", at: point.location)
        }
    }

    private mutating func add(_ node: StageNode, role: StageRole, at location: SourceLocation) {
        do {
            try result.graph.add(node)
            result.roles[node.id] = role
        } catch {
            sink.error("\(error)", at: location)
        }
    }

    private mutating func connect(_ from: StageID, _ to: StageID, _ placement: Placement, label: String? = nil) {
        guard result.graph.contains(from), result.graph.contains(to) else { return }
        try? result.graph.connect(from, to, placement: placement, label: label ?? placement.description)
    }

    /// The id of the node computing `signature`, creating it with `preferredID` the first time.
    private mutating func shared(_ preferredID: StageID, signature: String, make: (StageID) -> StageNode,
                                 role: () -> StageRole) -> StageID {
        if let existing = sharedNodes[signature] { return existing }
        let node = make(preferredID)
        try? result.graph.add(node)
        result.roles[node.id] = role()
        sharedNodes[signature] = preferredID
        return preferredID
    }

    private func describe(_ parameters: Parameters) -> String {
        parameters.map { entry -> String in
            if case .secret(let secret) = entry.value { return "\(entry.name)=secret(\(secret.source))" }
            return "\(entry.name)=\(entry.value)"
        }.joined(separator: ";")
    }
}
