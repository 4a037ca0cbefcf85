/// What a parameter accepts. The planner validates config values against it; `engines -v` and the
/// README document it from the same description, so the two cannot drift.
public enum ParameterType: Sendable, Equatable {
    case string
    case path
    case url
    case int(ClosedRange<Int>)
    case bool
    case list
    /// A map of strings (`headers`, `environment`, …).
    case map
    /// A password, token or key: given inline, as `${env:NAME}` or `${file:/path}`; printed as `***`.
    case secret
    case choice([String])
    /// `30s`, `10m`, `6h`, `2d`.
    case duration
    /// `always`, `hourly`, `daily[@HH:MM]`, `weekly[@mon]`, `monthly[@DD]`, or a duration.
    case frequency
    /// The `keep:` retention map.
    case retention
    /// `{ include: [glob…], exclude: [glob…] }` for associating points by tag.
    case tagRule
    /// Event names of hooks.
    case events

    public var displayName: String {
        switch self {
        case .string: return "string"
        case .path: return "path"
        case .url: return "url"
        case .int(let range):
            return range.upperBound == Int.max ? "integer ≥ \(range.lowerBound)" : "integer \(range.lowerBound)…\(range.upperBound)"
        case .bool: return "boolean"
        case .list: return "list of strings"
        case .map: return "map of strings"
        case .secret: return "secret"
        case .choice(let values): return values.joined(separator: " | ")
        case .duration: return "duration"
        case .frequency: return "frequency"
        case .retention: return "retention"
        case .tagRule: return "tag rule"
        case .events: return "list of events"
        }
    }

    /// Whether `{variable}` templates are expanded in values of this type.
    public var expandsVariables: Bool {
        switch self {
        case .string, .path, .url, .list, .map: return true
        default: return false
        }
    }
}

public struct ParameterSpec: Sendable, Equatable {
    public let name: String
    public let type: ParameterType
    public let required: Bool
    /// The default as the user would write it; `nil` when there is none.
    public let defaultValue: String?
    public let doc: String

    public init(_ name: String, _ type: ParameterType, required: Bool = false, default defaultValue: String? = nil, _ doc: String) {
        self.name = name
        self.type = type
        self.required = required
        self.defaultValue = defaultValue
        self.doc = doc
    }
}
