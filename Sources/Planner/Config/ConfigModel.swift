import Pipeline
import Stages

/// A value from the config, checked against its parameter type but not yet expanded.
public enum ConfigValue: Sendable {
    case text(Template, raw: String)
    case int(Int)
    case bool(Bool)
    case list([(Template, raw: String)])
    case map([(key: String, value: MapValue)])
    case secret(Secret)
    case duration(Int)
    case frequency(Frequency)
    case retention(RetentionPolicy)
    case tagRule(TagRule)
    case events([HookEvent])

    public enum MapValue: Sendable {
        case text(Template, raw: String)
        case secret(Secret)
    }
}

/// A parameter as written: its spec, value and where it stands.
public struct ConfigParameter: Sendable {
    public let spec: ParameterSpec
    public let value: ConfigValue
    public let location: SourceLocation
}

/// One configured engine: a source, filter, hook, or the engine part of a point.
public struct EngineInstance: Sendable {
    public let name: String
    public let spec: EngineSpec
    public let location: SourceLocation
    public let parameters: [ConfigParameter]

    public func parameter(_ name: String) -> ConfigParameter? {
        parameters.first { $0.spec.name == name }
    }
}

/// User variables with where each is defined.
public struct VariableDefinitions: Sendable {
    public var entries: [(name: String, value: String, location: SourceLocation)] = []

    public init() {}

    var dictionary: [String: String] {
        Dictionary(entries.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}

public struct CollectPointConfig: Sendable {
    public let name: String
    public let location: SourceLocation
    public let engine: EngineInstance
    public let frequency: Frequency
    public let tags: [String]
    public let rule: TagRule
    public let sources: [EngineInstance]
    public let filters: [EngineInstance]
    public let hooks: [EngineInstance]
    public let variables: VariableDefinitions
}

public struct BackupPointConfig: Sendable {
    public let name: String
    public let location: SourceLocation
    public let engine: EngineInstance
    public let frequency: Frequency
    public let tags: [String]
    public let rule: TagRule
    public let filters: [EngineInstance]
    public let hooks: [EngineInstance]
    public let variables: VariableDefinitions
    /// `variables_for`: per collect point variables, winning over every other layer.
    public let variablesFor: [(collectPoint: String, location: SourceLocation, variables: VariableDefinitions)]
}

/// The whole configuration, merged from every file.
public struct PipelineConfig: Sendable {
    public var files: [String] = []
    public var variables = VariableDefinitions()
    public var collectPoints: [CollectPointConfig] = []
    public var backupPoints: [BackupPointConfig] = []
    public var hooks: [EngineInstance] = []
    /// `state_dir:`, where the journal and store live when neither `--state-dir` nor `POLYARCHIV_STATE_DIR` says.
    public var stateDirectory: (path: String, location: SourceLocation)?
    /// Problems found while reading, carried to the compiler (`ConfigLoader.load(_:deferringErrors:)`) so
    /// that every problem is reported in one pass.
    public var diagnostics: [Diagnostic] = []

    public init() {}
}
