import Foundation
import Pipeline

/// An engine's parameters as the planner compiled them (variables expanded, types checked), read once by
/// the engine into its typed configuration. A missing required value is a configuration error; the types
/// were checked against the spec already.
public struct EngineParameters: Sendable {
    public let values: Parameters

    public init(_ values: Parameters) { self.values = values }

    public func has(_ name: String) -> Bool { values[name] != nil }

    public func string(_ name: String) -> String? { values.string(name) }

    /// A required string (the spec says so; the planner checked it is there).
    public func required(_ name: String) throws -> String {
        guard let value = values.string(name) else { throw ConfigurationError("`\(name)` is required", parameter: name) }
        return value
    }

    public func int(_ name: String) -> Int? {
        if case .int(let value)? = values[name] { return value }
        return nil
    }

    public func bool(_ name: String) -> Bool? {
        if case .bool(let value)? = values[name] { return value }
        return nil
    }

    public func list(_ name: String) -> [String] {
        if case .list(let items)? = values[name] { return items }
        return []
    }

    /// A map of strings or secrets (`environment`, `headers`).
    public func map(_ name: String) -> [(String, MapValue)] {
        guard case .map(let entries)? = values[name] else { return [] }
        return entries.map { key, value in
            if case .secret(let secret) = value { return (key, .secret(secret)) }
            return (key, .text(value.description))
        }
    }

    public enum MapValue: Sendable {
        case text(String)
        case secret(Secret)
    }

    public func secret(_ name: String) -> Secret? {
        if case .secret(let secret)? = values[name] { return secret }
        return nil
    }

    /// A duration parameter, in seconds.
    public func seconds(_ name: String) -> Int? { int(name) }

    /// The `keep:` policy, compiled by the planner into counts.
    public func retention(_ name: String = "keep") -> RetentionPolicy? {
        guard case .map(let entries)? = values[name] else { return nil }
        return RetentionPolicy(compiled: entries)
    }
}
