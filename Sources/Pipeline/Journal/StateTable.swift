import Foundation
import GRDB

/// One namespace of the journal's `engine_state` table: what an engine (or the planner) keeps between runs,
/// as keyed values in scopes (a stat cache per source, a placement per directory…). The journal knows no
/// schema of theirs: a change of format is the engine's own business. An entry names the store objects it
/// keeps alive (`keeps`), so gc spares them and a damaged object's entries are forgotten with it.
public struct StateTable: Sendable {
    public let namespace: String
    let queue: DatabaseQueue

    public func value(_ key: String, scope: String = "") throws -> Data? {
        try queue.read { db in
            try Data.fetchOne(db, sql: "SELECT value FROM engine_state WHERE namespace = ? AND scope = ? AND key = ?",
                              arguments: [namespace, scope, key])
        }
    }

    public func set(_ key: String, scope: String = "", _ value: Data, keeps: [Digest] = []) throws {
        try queue.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO engine_state(namespace, scope, key, value, keeps) VALUES (?, ?, ?, ?, ?)",
                           arguments: [namespace, scope, key, value, Self.keeps(keeps)])
        }
    }

    public func remove(_ key: String, scope: String = "") throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM engine_state WHERE namespace = ? AND scope = ? AND key = ?", arguments: [namespace, scope, key])
        }
    }

    /// Every entry of a scope.
    public func entries(scope: String = "") throws -> [String: Data] {
        try queue.read { db in
            var result: [String: Data] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT key, value FROM engine_state WHERE namespace = ? AND scope = ?",
                                           arguments: [namespace, scope])
            while let row = try rows.next() { result[row["key"]] = row["value"] }
            return result
        }
    }

    /// Replaces a scope's entries in one transaction.
    public func replace(scope: String = "", with entries: [String: (value: Data, keeps: [Digest])]) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM engine_state WHERE namespace = ? AND scope = ?", arguments: [namespace, scope])
            let statement = try db.makeStatement(sql: """
                INSERT INTO engine_state(namespace, scope, key, value, keeps) VALUES (?, ?, ?, ?, ?)
                """)
            for (key, entry) in entries {
                try statement.execute(arguments: [namespace, scope, key, entry.value, Self.keeps(entry.keeps)])
            }
        }
    }

    /// Every scope that holds an entry.
    public func scopes() throws -> [String] {
        try queue.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT scope FROM engine_state WHERE namespace = ? ORDER BY scope", arguments: [namespace])
        }
    }

    private static func keeps(_ digests: [Digest]) -> String? {
        digests.isEmpty ? nil : digests.map(\.hex).joined(separator: " ")
    }
}

extension StateTable {
    /// A Codable value stored as JSON.
    public func decoded<T: Decodable>(_ type: T.Type, _ key: String, scope: String = "") throws -> T? {
        guard let data = try value(key, scope: scope) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(type, from: data)
    }

    public func encode<T: Encodable>(_ value: T, _ key: String, scope: String = "", keeps: [Digest] = []) throws {
        try set(key, scope: scope, Self.json(value), keeps: keeps)
    }

    public static func json<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .secondsSince1970
        return try encoder.encode(value)
    }
}
