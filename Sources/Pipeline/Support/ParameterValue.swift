/// A validated parameter value as stages see it. Secrets stay opaque: their text is `***` everywhere.
public enum ParameterValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case bool(Bool)
    case list([String])
    case map([(String, ParameterValue)])
    case secret(Secret)

    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .list(let l): return "[" + l.joined(separator: ", ") + "]"
        case .map(let m): return "{" + m.map { "\($0.0): \($0.1.description)" }.joined(separator: ", ") + "}"
        case .secret: return Secret.mask
        }
    }

    public static func == (lhs: ParameterValue, rhs: ParameterValue) -> Bool {
        switch (lhs, rhs) {
        case let (.string(a), .string(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.bool(a), .bool(b)): return a == b
        case let (.list(a), .list(b)): return a == b
        case let (.map(a), .map(b)): return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.secret(a), .secret(b)): return a == b
        default: return false
        }
    }
}

/// Parameters keep the order they were declared in, so every rendering is stable.
public struct Parameters: Sendable, Equatable, Sequence {
    public private(set) var entries: [(name: String, value: ParameterValue)] = []

    public init() {}

    public subscript(name: String) -> ParameterValue? {
        get { entries.first { $0.name == name }?.value }
        set {
            if let index = entries.firstIndex(where: { $0.name == name }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((name, newValue))
            }
        }
    }

    public func string(_ name: String) -> String? {
        if case .string(let s)? = self[name] { return s }
        return nil
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: ParameterValue)]> {
        entries.makeIterator()
    }

    public static func == (lhs: Parameters, rhs: Parameters) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.name == $1.name && $0.value == $1.value }
    }
}
