/// A YAML document as the planner sees it: scalars kept as text, every node with its location.
indirect enum ConfigNode: Sendable {
    case scalar(Scalar)
    case sequence([ConfigNode], SourceLocation)
    case mapping([MappingEntry], SourceLocation)

    struct Scalar: Sendable {
        let text: String
        let location: SourceLocation
        /// A plain `~`, `null` or empty value.
        let isNull: Bool
    }

    struct MappingEntry: Sendable {
        let key: String
        let keyLocation: SourceLocation
        let value: ConfigNode
    }

    var location: SourceLocation {
        switch self {
        case .scalar(let scalar): return scalar.location
        case .sequence(_, let location), .mapping(_, let location): return location
        }
    }

    var typeName: String {
        switch self {
        case .scalar(let scalar): return scalar.isNull ? "an empty value" : "a scalar"
        case .sequence: return "a list"
        case .mapping: return "a map"
        }
    }

    var isNull: Bool {
        if case .scalar(let scalar) = self { return scalar.isNull }
        return false
    }
}
