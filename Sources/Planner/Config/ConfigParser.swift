import Pipeline
import Stages

/// Turns the YAML of one file into config model parts, reporting every problem it finds.
struct ConfigParser {
    var sink = DiagnosticSink()
    private var values = ValueParser()

    static let topLevelKeys = ["variables", "collect_points", "backup_points", "hooks", "state_dir"]
    /// Keys of points whose values the parser handles itself rather than by parameter type.
    static let structuralKeys: Set<String> = ["sources", "filters", "hooks", "variables", "variables_for"]

    mutating func parse(_ root: ConfigNode, into config: inout PipelineConfig) {
        defer { flushValueDiagnostics() }
        guard case .mapping(let entries, _) = root else {
            if !root.isNull {
                sink.error("the top level must be a map with " + Self.topLevelKeys.joined(separator: ", ")
                           + ", not \(root.typeName)", at: root.location)
            }
            return
        }
        for entry in entries {
            switch entry.key {
            case "variables":
                config.variables.entries += variables(entry.value, "variables").entries
            case "collect_points":
                for (name, location, node) in namedEntries(entry.value, "collect_points") {
                    if let point = collectPoint(name, location, node) { config.collectPoints.append(point) }
                }
            case "backup_points":
                for (name, location, node) in namedEntries(entry.value, "backup_points") {
                    if let point = backupPoint(name, location, node) { config.backupPoints.append(point) }
                }
            case "hooks":
                config.hooks += engineList(entry.value, kind: .hook, what: "hooks")
            case "state_dir":
                stateDirectory(entry.value, into: &config)
            case let key where key.hasPrefix("x-"):
                continue  // a place for YAML anchors (`x-defaults: &defaults …`), as Compose has: not read otherwise
            default:
                sink.error("unknown top-level key `\(entry.key)`" + Suggestion.didYouMean(entry.key, among: Self.topLevelKeys)
                           + "; the top level holds " + Self.topLevelKeys.joined(separator: ", ") + " (and x-… keys for YAML anchors)",
                           at: entry.keyLocation)
            }
        }
    }

    /// `state_dir: /absolute/path`, in one file only (or the same path in each).
    private mutating func stateDirectory(_ node: ConfigNode, into config: inout PipelineConfig) {
        guard case .scalar(let scalar) = node, !scalar.isNull else {
            sink.error("state_dir must be an absolute path, not \(node.typeName)", at: node.location)
            return
        }
        guard scalar.text.hasPrefix("/") else {
            sink.error("state_dir `\(scalar.text)` must be an absolute path (it is read by every command, from any working "
                       + "directory)", at: scalar.location)
            return
        }
        if let earlier = config.stateDirectory, earlier.path != scalar.text {
            sink.error("state_dir is set twice: `\(scalar.text)` here and `\(earlier.path)` at \(earlier.location); keep one",
                       at: scalar.location)
            return
        }
        config.stateDirectory = (scalar.text, scalar.location)
    }

    private mutating func flushValueDiagnostics() {
        for diagnostic in values.sink.diagnostics { sink.error(diagnostic.message, at: diagnostic.location) }
        values.sink = DiagnosticSink()
    }

    // MARK: - Points

    private mutating func collectPoint(_ name: String, _ location: SourceLocation, _ node: ConfigNode) -> CollectPointConfig? {
        guard let (engine, structure) = engineInstance(name, node, kind: .collectPoint, what: "collect point `\(name)`",
                                                       location: location) else {
            return nil
        }
        var sources: [EngineInstance] = []
        if let sourcesNode = structure["sources"] {
            for (sourceName, sourceLocation, sourceNode) in namedEntries(sourcesNode, "sources") {
                if let (source, _) = engineInstance(sourceName, sourceNode, kind: .source, what: "source `\(sourceName)`",
                                                    location: sourceLocation) {
                    sources.append(source)
                }
            }
            if sources.isEmpty && sink.isEmpty && values.sink.isEmpty {
                sink.error("collect point `\(name)` has no source; add one under `sources`", at: sourcesNode.location)
            }
        } else {
            sink.error("collect point `\(name)` has no `sources`; add at least one, such as `files: {engine: files, path: /srv}`",
                       at: location)
        }
        return CollectPointConfig(
            name: name, location: location, engine: engine,
            frequency: frequency(engine), tags: tags(engine, default: ["collect"]),
            rule: rule(engine, "backup_points"), sources: sources,
            filters: structure["filters"].map { engineList($0, kind: .filter, what: "filters") } ?? [],
            hooks: structure["hooks"].map { engineList($0, kind: .hook, what: "hooks") } ?? [],
            variables: structure["variables"].map { variables($0, "variables") } ?? VariableDefinitions())
    }

    private mutating func backupPoint(_ name: String, _ location: SourceLocation, _ node: ConfigNode) -> BackupPointConfig? {
        guard let (engine, structure) = engineInstance(name, node, kind: .backupPoint, what: "backup point `\(name)`",
                                                       location: location) else {
            return nil
        }
        var variablesFor: [(collectPoint: String, location: SourceLocation, variables: VariableDefinitions)] = []
        if let node = structure["variables_for"] {
            for (cp, cpLocation, cpNode) in namedEntries(node, "variables_for") {
                variablesFor.append((cp, cpLocation, variables(cpNode, "variables_for.\(cp)")))
            }
        }
        if structure["sources"] != nil {
            sink.error("backup point `\(name)` cannot have sources; sources belong to collect points", at: location)
        }
        return BackupPointConfig(
            name: name, location: location, engine: engine,
            frequency: frequency(engine), tags: tags(engine, default: ["backup"]),
            rule: rule(engine, "collect_points"),
            filters: structure["filters"].map { engineList($0, kind: .filter, what: "filters") } ?? [],
            hooks: structure["hooks"].map { engineList($0, kind: .hook, what: "hooks") } ?? [],
            variables: structure["variables"].map { variables($0, "variables") } ?? VariableDefinitions(),
            variablesFor: variablesFor)
    }

    private func frequency(_ engine: EngineInstance) -> Frequency {
        if case .frequency(let frequency)? = engine.parameter("frequency")?.value { return frequency }
        return .always
    }

    private func tags(_ engine: EngineInstance, default fallback: [String]) -> [String] {
        if case .list(let items)? = engine.parameter("tags")?.value { return items.map(\.raw) }
        return fallback
    }

    private func rule(_ engine: EngineInstance, _ key: String) -> TagRule {
        if case .tagRule(let rule)? = engine.parameter(key)?.value { return rule }
        return TagRule()
    }

    // MARK: - Engines

    /// A list of engine maps (filters, hooks); each is named by its `name:` key or its engine.
    private mutating func engineList(_ node: ConfigNode, kind: EngineKind, what: String) -> [EngineInstance] {
        guard case .sequence(let items, _) = node else {
            if !node.isNull {
                sink.error("`\(what)` must be a list of maps, each with an `engine`, not \(node.typeName)", at: node.location)
            }
            return []
        }
        var instances: [EngineInstance] = []
        var used: [String: Int] = [:]
        for item in items {
            var explicitName: String?
            if case .mapping(let entries, _) = item, let nameEntry = entries.first(where: { $0.key == "name" }) {
                explicitName = values.scalar(nameEntry.value, "name", expecting: "a name")
            }
            let engineName = engineKeyValue(item) ?? kind.rawValue
            let base = explicitName ?? engineName
            used[base, default: 0] += 1
            let name = used[base]! > 1 && explicitName == nil ? "\(base)-\(used[base]!)" : base
            if explicitName != nil && used[base]! > 1 {
                sink.error("two \(kind.plural) are named `\(base)`; names must differ", at: item.location)
            }
            if let (instance, _) = engineInstance(name, item, kind: kind, what: "\(kind.rawValue) `\(name)`",
                                                  extraKeys: ["name"]) {
                instances.append(instance)
            }
        }
        return instances
    }

    private func engineKeyValue(_ node: ConfigNode) -> String? {
        guard case .mapping(let entries, _) = node, let entry = entries.first(where: { $0.key == "engine" }),
              case .scalar(let scalar) = entry.value else { return nil }
        return scalar.text
    }

    /// Checks a map against an engine's parameters; returns the instance and the structural keys it held.
    private mutating func engineInstance(_ name: String, _ node: ConfigNode, kind: EngineKind, what: String,
                                         location: SourceLocation? = nil,
                                         extraKeys: Set<String> = []) -> (EngineInstance, [String: ConfigNode])? {
        guard case .mapping(let entries, let mapLocation) = node else {
            sink.error("\(what) must be a map with an `engine` and its parameters, not \(node.typeName)", at: node.location)
            return nil
        }
        let where_ = location ?? mapLocation
        let known = Engines.specs(kind).map(\.name)
        guard let engineEntry = entries.first(where: { $0.key == "engine" }) else {
            sink.error("\(what) has no `engine`; choose one of " + known.joined(separator: ", "), at: where_)
            return nil
        }
        guard let engineName = values.scalar(engineEntry.value, "engine", expecting: "an engine name") else { return nil }
        guard let spec = Engines.spec(engineName, kind: kind) else {
            sink.error("unknown \(kind.rawValue) engine `\(engineName)`" + Suggestion.didYouMean(engineName, among: known)
                       + "; \(kind.plural) are " + known.joined(separator: ", "), at: engineEntry.value.location)
            return nil
        }
        let structural = kind == .collectPoint || kind == .backupPoint ? Self.structuralKeys : []
        let specs = CommonParameters.of(kind).filter { !structural.contains($0.name) } + spec.parameters
        var parameters: [ConfigParameter] = []
        var structure: [String: ConfigNode] = [:]
        for entry in entries where entry.key != "engine" && !extraKeys.contains(entry.key) {
            if structural.contains(entry.key) {
                structure[entry.key] = entry.value
            } else if let parameterSpec = specs.first(where: { $0.name == entry.key }) {
                if entry.value.isNull && !parameterSpec.required { continue }
                if let value = values.parse(entry.value, as: parameterSpec) {
                    parameters.append(ConfigParameter(spec: parameterSpec, value: value, location: entry.value.location))
                }
            } else {
                let candidates = specs.map(\.name) + structural.sorted()
                sink.error("unknown parameter `\(entry.key)` for \(what) (engine \(engineName))"
                           + Suggestion.didYouMean(entry.key, among: candidates)
                           + "; `polyarchiv engines -v` lists the parameters", at: entry.keyLocation)
            }
        }
        let given = Set(entries.map(\.key))
        for parameterSpec in specs where parameterSpec.required && !given.contains(parameterSpec.name) && parameterSpec.name != "engine" {
            sink.error("\(what) (engine \(engineName)) misses required parameter `\(parameterSpec.name)`: \(parameterSpec.doc)",
                       at: where_)
        }
        for group in spec.exclusive where group.filter(given.contains).count > 1 {
            let set = group.filter(given.contains).map { "`\($0)`" }.joined(separator: " and ")
            sink.error("\(what) sets both \(set); keep one", at: where_)
        }
        for group in spec.oneOf where !group.contains(where: given.contains) {
            sink.error("\(what) (engine \(engineName)) needs one of " + group.map { "`\($0)`" }.joined(separator: ", "), at: where_)
        }
        if !isValidName(name) {
            sink.error("`\(name)` is not a valid name: use letters, digits, `.`, `_` and `-`, starting with a letter or digit",
                       at: where_)
        }
        return (EngineInstance(name: name, spec: spec, location: where_, parameters: parameters), structure)
    }

    // MARK: - Shapes

    /// The entries of a map whose keys are names (points, sources).
    private mutating func namedEntries(_ node: ConfigNode, _ what: String) -> [(String, SourceLocation, ConfigNode)] {
        guard case .mapping(let entries, _) = node else {
            if !node.isNull {
                sink.error("`\(what)` must be a map from names to definitions, not \(node.typeName)", at: node.location)
            }
            return []
        }
        return entries.map { ($0.key, $0.keyLocation, $0.value) }
    }

    private mutating func variables(_ node: ConfigNode, _ what: String) -> VariableDefinitions {
        var definitions = VariableDefinitions()
        guard case .mapping(let entries, _) = node else {
            if !node.isNull { sink.error("`\(what)` must be a map from names to strings, not \(node.typeName)", at: node.location) }
            return definitions
        }
        for entry in entries {
            guard Template.isName(entry.key) else {
                sink.error("variable name `\(entry.key)` must be letters, digits and _", at: entry.keyLocation)
                continue
            }
            guard case .scalar(let scalar) = entry.value else {
                sink.error("variable `\(entry.key)` must be a string, not \(entry.value.typeName)", at: entry.value.location)
                continue
            }
            if SecretReference.containsReference(scalar.text) {
                sink.error("variable `\(entry.key)` cannot hold a secret reference: variables are printed in plans",
                           at: scalar.location)
                continue
            }
            definitions.entries.append((entry.key, scalar.isNull ? "" : scalar.text, scalar.location))
        }
        return definitions
    }

    private func isValidName(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first.isNumber else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }
}
