import Pipeline

/// The kind of thing an engine is configured as.
public enum EngineKind: String, CaseIterable, Sendable {
    case source
    case collectPoint = "collect point"
    case filter
    case backupPoint = "backup point"
    case hook

    /// The plural used for YAML sections and headings.
    public var plural: String {
        switch self {
        case .source: return "sources"
        case .collectPoint: return "collect points"
        case .filter: return "filters"
        case .backupPoint: return "backup points"
        case .hook: return "hooks"
        }
    }
}

/// What the planner and the documentation know of an engine: its name, kind, summary and parameters.
public struct EngineSpec: Sendable {
    public let name: String
    public let kind: EngineKind
    public let summary: String
    public let parameters: [ParameterSpec]
    /// Groups of parameters of which at most one may be set (`password` / `password_file`).
    public let exclusive: [[String]]
    /// Groups of parameters of which at least one must be set (`token` / `token_file`).
    public let oneOf: [[String]]

    public init(_ name: String, _ kind: EngineKind, _ summary: String, parameters: [ParameterSpec],
                exclusive: [[String]] = [], oneOf: [[String]] = []) {
        self.name = name
        self.kind = kind
        self.summary = summary
        self.parameters = parameters
        self.exclusive = exclusive
        self.oneOf = oneOf
    }

    public func parameter(_ name: String) -> ParameterSpec? {
        parameters.first { $0.name == name }
    }
}
