import Foundation
import Pipeline
import Stages

/// Compiles a validated configuration into the stage graph: dumps → collect-point filters → collect →
/// per associated backup point: (archive) → backup-point filters → upload → (prune), with hooks around.
public struct Compiler {
    let config: PipelineConfig
    let builtins: BuiltinVariables
    var parameters: ParameterCompiler
    var result: CompiledPipeline
    /// Derived nodes by what they compute, so two backup points that need the same thing share one node.
    private var sharedNodes: [String: String] = [:]

    public static func compile(_ config: PipelineConfig, builtins: BuiltinVariables = .current(),
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CompiledPipeline {
        var compiler = Compiler(config: config, builtins: builtins,
                                parameters: ParameterCompiler(environment: environment), result: CompiledPipeline(date: builtins.date))
        try compiler.run()
        return compiler.result
    }

    private var sink: DiagnosticSink {
        get { parameters.sink }
        set { parameters.sink = newValue }
    }

    private mutating func run() throws {
        checkNames()
        let global = layered(VariableScope(builtins.values).overlaid(with: ["name": "global"]), config.variables, "variables")
        for point in config.collectPoints { compileCollectPoint(point, global) }
        for point in config.backupPoints { compileBackupPoint(point, global) }
        compileHooks(config.hooks, group: .global, scope: global, idPrefix: "global", context: "global hooks",
                     before: entryNodes(), after: exitNodes())
        checkPlacesAreUnique()
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
    private mutating func layered(_ scope: VariableScope, _ definitions: VariableDefinitions, _ what: String) -> VariableScope {
        var current = scope
        for (name, raw, location) in definitions.entries {
            let template: Template
            do {
                template = try Template(parsing: raw)
            } catch {
                sink.error("in variable `\(name)`: \(error)", at: location)
                continue
            }
            if let value = parameters.expand(template, current, location, name, what) {
                current = current.overlaid(with: [name: value])
            }
        }
        return current
    }

    private func collectPointScope(_ point: CollectPointConfig, _ global: VariableScope) -> VariableScope {
        global.overlaid(with: ["name": point.name, "collect_point": point.name])
    }

    // MARK: - Collect points

    private mutating func compileCollectPoint(_ point: CollectPointConfig, _ global: VariableScope) {
        let scope = layered(collectPointScope(point, global), point.variables, "collect point `\(point.name)`")
        result.collectPoints.append(.init(name: point.name, kind: .collectPoint, engine: point.engine.spec.name,
                                          frequency: point.frequency, tags: point.tags, location: point.location))
        let group = StageGroup.collectPoint(point.name)
        var collectParameters = parameters.compile(point.engine, scope: scope, context: "collect point `\(point.name)`")
        if point.engine.spec.name == "archive", let name = collectParameters.string("archive_name") {
            if ArchiveFormat.from(name: name) == nil {
                sink.error("`archive_name` `\(name)` of collect point `\(point.name)` must end with \(ArchiveFormat.suffixList)",
                           at: point.engine.parameter("archive_name")?.location ?? point.location)
            }
        }
        var outputs: [(id: String, label: String)] = []
        var destinations: [(String, SourceLocation)] = []
        for source in point.sources {
            let context = "source `\(source.name)` of `\(point.name)`"
            var sourceParameters = parameters.compile(source, scope: scope, context: context)
            let destination = Self.normalise(sourceParameters.string("destination")
                ?? DefaultDestination.of(engine: source.spec.name, source: source.name, format: sourceParameters.string("format")))
            sourceParameters["destination"] = .string(destination)
            checkDestination(destination, source.parameter("destination")?.location ?? source.location, &destinations)
            let id = "dump:\(point.name)/\(source.name)"
            add(StageNode(id: id, kind: .dump, engine: source.spec.name, group: group, collectPoint: point.name,
                          parameters: sourceParameters, resourceKeys: source.spec.resourceKeys(sourceParameters),
                          summary: "\(source.spec.name) → \(destination)"), at: source.location)
            outputs.append((id, destination))
        }
        for filter in point.filters {
            let id = "filter:\(point.name)/\(filter.name)"
            let filterParameters = parameters.compile(filter, scope: scope, context: "filter `\(filter.name)` of `\(point.name)`")
            add(StageNode(id: id, kind: .filter, engine: filter.spec.name, group: group, collectPoint: point.name,
                          parameters: filterParameters, summary: filterSummary(filter.spec.name, filterParameters)),
                at: filter.location)
            for output in outputs { connect(output.id, id, output.label) }
            outputs = [(id, "tree")]
        }
        let collectID = "collect:\(point.name)"
        collectParameters["frequency"] = .string(point.frequency.description)
        add(StageNode(id: collectID, kind: .collect, engine: point.engine.spec.name, group: group, collectPoint: point.name,
                      parameters: collectParameters,
                      summary: "\(point.engine.spec.name) at \(collectParameters.string("path") ?? "?")"), at: point.location)
        for output in outputs { connect(output.id, collectID, output.label) }
        compileHooks(point.hooks, group: group, scope: scope, idPrefix: point.name, context: "collect point `\(point.name)`",
                     before: point.sources.map { "dump:\(point.name)/\($0.name)" }, after: [collectID])
    }

    /// `./db/../x` style noise removed: `.` components dropped, a trailing `/` (a directory) kept.
    static func normalise(_ destination: String) -> String {
        let components = destination.split(separator: "/").filter { $0 != "." }
        guard !components.isEmpty else { return destination }
        let joined = components.joined(separator: "/")
        return destination.hasSuffix("/") ? joined + "/" : joined
    }

    private mutating func checkDestination(_ destination: String, _ location: SourceLocation,
                                           _ seen: inout [(String, SourceLocation)]) {
        let components = destination.split(separator: "/")
        if destination.hasPrefix("/") || components.contains("..") || components.isEmpty {
            sink.error("`destination` `\(destination)` must be a relative path inside the collect point, without `..`",
                       at: location)
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
                                         frequency: point.frequency, tags: point.tags, location: point.location))
        for (cp, location, _) in point.variablesFor where !config.collectPoints.contains(where: { $0.name == cp }) {
            sink.error("`variables_for` names collect point `\(cp)`, which does not exist"
                       + Suggestion.didYouMean(cp, among: config.collectPoints.map(\.name)), at: location)
        }
        let group = StageGroup.backupPoint(point.name)
        let bpScope = layered(global.overlaid(with: ["name": point.name, "backup_point": point.name]), point.variables,
                              "backup point `\(point.name)`")
        var lastNodes: [String] = []
        var firstNodes: [String] = []
        for cp in config.collectPoints where Association.associates(
            collectPointLabels: cp.tags + [cp.name], rule: cp.rule, backupPointLabels: point.tags + [point.name], rule: point.rule) {
            result.associations.append((point.name, cp.name))
            var scope = layered(collectPointScope(cp, bpScope), cp.variables, "collect point `\(cp.name)`")
            scope = scope.overlaid(with: ["backup_point": point.name])
            if let extra = point.variablesFor.first(where: { $0.collectPoint == cp.name }) {
                scope = layered(scope, extra.variables, "variables_for.\(cp.name)")
            }
            let (first, last) = compilePair(point, cp, scope: scope, group: group)
            firstNodes.append(first)
            lastNodes.append(last)
        }
        compileHooks(point.hooks, group: group, scope: bpScope, idPrefix: point.name, context: "backup point `\(point.name)`",
                     before: firstNodes, after: lastNodes)
    }

    /// The nodes of one (backup point, collect point) pair; returns its first and last node ids.
    private mutating func compilePair(_ point: BackupPointConfig, _ cp: CollectPointConfig, scope: VariableScope,
                                      group: StageGroup) -> (String, String) {
        let context = "backup point `\(point.name)` for `\(cp.name)`"
        var bpParameters = parameters.compile(point.engine, scope: scope, context: context)
        var current = (id: "collect:\(cp.name)", label: "tree")
        var first: String?
        let engine = point.engine.spec.name
        let filters = point.filters.map { filter in
            (filter, parameters.compile(filter, scope: scope, context: "filter `\(filter.name)` of \(context)"))
        }
        if engine == "archive" || engine == "rolling_archive" {
            var url = bpParameters.string("url") ?? ""
            // An encrypted archive's name ends with the encrypt filters' suffixes (`.tar.gz.age`): written or added.
            let encryptSuffix = filters.filter { $0.0.spec.name == "encrypt" }.map { $0.1.string("suffix") ?? ".age" }.joined()
            if !encryptSuffix.isEmpty {
                if url.hasSuffix(encryptSuffix) { url.removeLast(encryptSuffix.count) }
                bpParameters["url"] = .string(url + encryptSuffix)
            }
            guard let format = ArchiveFormat.from(name: url) else {
                sink.error("`url` `\(url)` of \(context) must end with \(ArchiveFormat.suffixList)",
                           at: point.engine.parameter("url")?.location ?? point.location)
                return (current.id, current.id)
            }
            var archiveParameters = Parameters()
            archiveParameters["format"] = .string(format.rawValue)
            if let level = bpParameters["compression_level"] { archiveParameters["compression_level"] = level }
            let suffix = archiveParameters["compression_level"].map { "-\($0)" } ?? ""
            let id = shared("archive:\(cp.name)/\(format.rawValue)\(suffix)", signature: "archive|\(cp.name)|\(format)|\(suffix)") {
                StageNode(id: $0, kind: .archive, engine: "archive", group: .collectPoint(cp.name), collectPoint: cp.name,
                          parameters: archiveParameters, summary: "\(format.rawValue) of \(cp.name)")
            }
            connect(current.id, id, current.label)
            current = (id, format.rawValue)
            first = id
        }
        for (filter, filterParameters) in filters {
            let signature = "filter|\(filter.spec.name)|\(current.id)|\(describe(filterParameters))"
            let summary = filterSummary(filter.spec.name, filterParameters)
            let id = shared("filter:\(point.name)/\(cp.name)/\(filter.name)", signature: signature) {
                StageNode(id: $0, kind: .filter, engine: filter.spec.name, group: group, collectPoint: cp.name,
                          backupPoint: point.name, parameters: filterParameters, summary: summary)
            }
            connect(current.id, id, current.label)
            let suffix = filter.spec.name == "encrypt" ? (filterParameters.string("suffix") ?? ".age") : ""
            current = (id, current.label + suffix)
            first = first ?? id
        }
        bpParameters["frequency"] = .string(point.frequency.description)
        // A git collect point's own history is what git backup points push.
        if engine == "git" || engine == "gitlab", cp.engine.spec.name == "git", point.filters.isEmpty,
           let collect = result.graph.node("collect:\(cp.name)") {
            bpParameters["source_repository"] = collect.parameters["path"]
            bpParameters["source_branch"] = collect.parameters["branch"]
        }
        if let metadata = point.engine.parameter("metadata_url"), case .text(let template, _) = metadata.value,
           let url = parameters.expand(template, scope, metadata.location, "metadata_url", context) {
            bpParameters["metadata_url"] = .string(url)
        } else if engine == "archive" || engine == "rolling_archive", let url = bpParameters.string("url") {
            // Beside the backups: the URL's directory, one document per (backup point, collect point).
            let directory = Self.directory(of: url)
            bpParameters["metadata_url"] = .string(directory + "/\(point.name)-\(cp.name).polyarchiv.json")
            warnIfTimeDependent(directory, point: point, scope: scope, context: context)
        }
        let uploadID = "upload:\(point.name)/\(cp.name)"
        // restic forgets in the same stage as its backup; archives are pruned by a stage of their own.
        let keep = engine == "restic" ? nil : bpParameters["keep"]
        if engine != "restic" { bpParameters["keep"] = nil }
        var upload = StageNode(id: uploadID, kind: .upload, engine: engine, group: group, collectPoint: cp.name, backupPoint: point.name,
                               parameters: bpParameters, resourceKeys: point.engine.spec.resourceKeys(bpParameters),
                               summary: "\(engine) → \(bpParameters.string("url") ?? bpParameters.string("repository") ?? bpParameters.string("project") ?? "")")
        upload.variables = scope.values
        add(upload, at: point.location)
        connect(current.id, uploadID, current.label)
        var last = uploadID
        if let keep {
            // The backup point's own parameters (where, credentials, metadata) and its policy.
            var pruneParameters = bpParameters
            pruneParameters["frequency"] = nil
            pruneParameters["keep"] = keep
            let pruneID = "prune:\(point.name)/\(cp.name)"
            add(StageNode(id: pruneID, kind: .prune, engine: engine, group: group, collectPoint: cp.name, backupPoint: point.name,
                          parameters: pruneParameters, resourceKeys: point.engine.spec.resourceKeys(bpParameters),
                          summary: "keep \(keep)"), at: point.location)
            connect(uploadID, pruneID, "backup list")
            last = pruneID
        }
        return (first ?? uploadID, last)
    }

    static func directory(of url: String) -> String {
        url.range(of: "/", options: .backwards).map { String(url[..<$0.lowerBound]) } ?? url
    }

    /// A metadata document must be found again on a fresh machine, at another time: its default place
    /// (the URL's directory) must not depend on the date or time.
    private mutating func warnIfTimeDependent(_ directory: String, point: BackupPointConfig, scope: VariableScope,
                                              context: String) {
        guard let parameter = point.engine.parameter("url"), case .text(let template, _) = parameter.value else { return }
        let other = BuiltinVariables(date: builtins.date.addingTimeInterval(400 * 86_400 + 3_723), hostname: builtins.hostname,
                                     fqdn: builtins.fqdn, username: builtins.username)
        let letters = other.values.filter { $0.key.count == 1 }
        guard let later = try? template.expand(scope.overlaid(with: letters)), Self.directory(of: later) != directory else { return }
        parameters.warnings.append(Diagnostic(
            "the directory of `url` of \(context) changes with the date or time, so the metadata document beside the "
            + "backups cannot be found again to list or restore them; set `metadata_url` to a fixed place", at: parameter.location))
    }

    // MARK: - Hooks

    private mutating func compileHooks(_ hooks: [EngineInstance], group: StageGroup, scope: VariableScope, idPrefix: String,
                                       context: String, before: [String], after: [String]) {
        for hook in hooks {
            guard case .events(let events)? = hook.parameter("events")?.value else { continue }
            // Known only when the hook fires: left as placeholders that the hook stage fills in.
            let hookScope = scope.overlaid(with: ["status": "{status}", "detailed_status": "{detailed_status}",
                                                  "complete_log": "{complete_log}", "event": "{event}"])
            var hookParameters = parameters.compile(hook, scope: hookScope, context: "hook `\(hook.name)` of \(context)")
            let beforeEvents = events.filter { $0 == "before_backup" }
            let afterEvents = events.filter { ["backup_success", "backup_error", "after_backup"].contains($0) }
            let restoreEvents = events.filter { ["before_restore", "restore_success", "restore_error"].contains($0) }
            if !restoreEvents.isEmpty {
                hookParameters["events"] = .list(restoreEvents)
                result.restoreHooks.append(StageNode(id: "notify:\(idPrefix)/\(hook.name)/restore", kind: .notify, engine: hook.spec.name,
                                                     group: group, parameters: hookParameters,
                                                     summary: "\(hook.spec.name) on " + restoreEvents.joined(separator: ", ")))
            }
            if !beforeEvents.isEmpty {
                hookParameters["events"] = .list(beforeEvents)
                let id = "notify:\(idPrefix)/\(hook.name)/before"
                add(StageNode(id: id, kind: .notify, engine: hook.spec.name, group: group, parameters: hookParameters,
                              summary: "\(hook.spec.name) on " + beforeEvents.joined(separator: ", ")), at: hook.location)
                for target in before { connect(id, target, "start") }
            }
            if !afterEvents.isEmpty {
                hookParameters["events"] = .list(afterEvents)
                let id = "notify:\(idPrefix)/\(hook.name)/after"
                add(StageNode(id: id, kind: .notify, engine: hook.spec.name, group: group, parameters: hookParameters,
                              runsAfterFailure: true, summary: "\(hook.spec.name) on " + afterEvents.joined(separator: ", ")),
                    at: hook.location)
                for source in after { connect(source, id, "status") }
            }
        }
    }

    /// Nodes with no input: where a run starts.
    private func entryNodes() -> [String] {
        let targets = Set(result.graph.edges.map(\.to))
        return result.graph.nodes.filter { !targets.contains($0.id) && $0.kind != .notify }.map(\.id)
    }

    /// Nodes nothing depends on (hooks aside): where a run ends.
    private func exitNodes() -> [String] {
        let notify = Set(result.graph.nodes.filter { $0.kind == .notify }.map(\.id))
        let sources = Set(result.graph.edges.filter { !notify.contains($0.to) }.map(\.from))
        return result.graph.nodes.filter { !sources.contains($0.id) && $0.kind != .notify }.map(\.id)
    }

    /// Two stages writing the same place would destroy each other's data: a collect point path, an
    /// upload URL or a metadata document may be used once.
    private mutating func checkPlacesAreUnique() {
        var seen: [String: String] = [:]
        for node in result.graph.nodes {
            var places: [(String, String)] = []
            if node.kind == .collect, let path = node.parameters.string("path") { places.append(("path", path)) }
            if node.kind == .upload {
                for key in ["url", "metadata_url"] {
                    if let value = node.parameters.string(key) { places.append((key, value)) }
                }
            }
            for (key, place) in places {
                let normalised = place.hasPrefix("file://") ? String(place.dropFirst("file://".count)) : place
                let trimmed = normalised.hasSuffix("/") ? String(normalised.dropLast()) : normalised
                if let other = seen[trimmed] {
                    sink.error("\(node.id) and \(other) would both write \(place) (`\(key)`); they would overwrite each other, "
                               + "so make it depend on {name}", at: locationOf(node))
                } else {
                    seen[trimmed] = node.id
                }
            }
        }
    }

    private func locationOf(_ node: StageNode) -> SourceLocation? {
        if let bp = node.backupPoint { return config.backupPoints.first { $0.name == bp }?.location }
        if let cp = node.collectPoint { return config.collectPoints.first { $0.name == cp }?.location }
        return nil
    }

    // MARK: - Helpers

    private mutating func checkNames() {
        let collectNames = Set(config.collectPoints.map(\.name))
        for point in config.backupPoints where collectNames.contains(point.name) {
            sink.error("backup point `\(point.name)` has the name of a collect point; names must be unique across both",
                       at: point.location)
        }
    }

    private mutating func add(_ node: StageNode, at location: SourceLocation) {
        do {
            try result.graph.add(node)
        } catch {
            sink.error("\(error)", at: location)
        }
    }

    private mutating func connect(_ from: String, _ to: String, _ label: String) {
        guard result.graph.contains(from), result.graph.contains(to) else { return }
        try? result.graph.connect(from, to, label: label)
    }

    /// The id of the node computing `signature`, creating it with `preferredID` the first time.
    private mutating func shared(_ preferredID: String, signature: String, make: (String) -> StageNode) -> String {
        if let existing = sharedNodes[signature] { return existing }
        let node = make(preferredID)
        try? result.graph.add(node)
        sharedNodes[signature] = preferredID
        return preferredID
    }

    private func describe(_ parameters: Parameters) -> String {
        parameters.map { entry -> String in
            if case .secret(let secret) = entry.value { return "\(entry.name)=secret(\(secret.source))" }
            return "\(entry.name)=\(entry.value)"
        }.joined(separator: ";")
    }

    private func filterSummary(_ engine: String, _ parameters: Parameters) -> String {
        switch engine {
        case "hashes": return "hashes (\(parameters.string("method") ?? "sha256")) → \(parameters.string("filename") ?? "")"
        case "encrypt":
            if case .list(let recipients)? = parameters["recipients"] { return "encrypt to \(recipients.count) recipient(s)" }
            return "encrypt" + (parameters["passphrase"] != nil ? " with a passphrase" : "")
        default: return engine
        }
    }
}
