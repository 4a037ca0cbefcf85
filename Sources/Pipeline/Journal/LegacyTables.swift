import Foundation
import GRDB

/// The journal of polyarchiv before its engine state moved to `engine_state` (schema v1–v4): its records
/// are carried into the namespaces that hold them now, in the format their owners read, within the
/// migration's transaction. They are records, not caches: a point's last success (frequency, `check`),
/// the backups this host made (retention, the missing-document guard), the ciphertext of each encrypted
/// file (unchanged data is not encrypted and uploaded again), when each dump was first seen (its mtime, so
/// an unchanged dump gives an unchanged tree), what a collect point's directory holds.
enum LegacyTables {
    static func carryForward(_ db: Database) throws {
        let insert = try db.makeStatement(sql: "INSERT OR REPLACE INTO engine_state(namespace, scope, key, value, keeps) VALUES (?, ?, ?, ?, ?)")
        func put(_ namespace: String, _ scope: String, _ key: String, _ value: Data, keeps: String? = nil) throws {
            try insert.execute(arguments: [namespace, scope, key, value, keeps])
        }
        func json(_ object: [String: Any]) throws -> Data {
            try JSONSerialization.data(withJSONObject: object.compactMapValues { $0 is NSNull ? nil : $0 }, options: [.sortedKeys])
        }
        // `points`: one status per (kind, name); dates as seconds since 1970, as `StateTable.encode` writes them.
        for row in try Row.fetchAll(db, sql: "SELECT * FROM points") {
            let status: [String: Any] = [
                "lastSuccess": (row["last_success"] as Double?) ?? NSNull(), "lastFailure": (row["last_failure"] as Double?) ?? NSNull(),
                "successes": row["successes"] as Int, "failures": row["failures"] as Int,
                "lastDuration": (row["last_duration"] as Double?) ?? NSNull(), "lastBytes": (row["last_bytes"] as Int64?) ?? NSNull(),
                "lastError": (row["last_error"] as String?) ?? NSNull(),
            ]
            try put("points", row["kind"], row["name"], try json(status))
        }
        // `remote_backups` → `backups`, by "BP/CP": each was listed in its metadata document when recorded.
        for row in try Row.fetchAll(db, sql: "SELECT * FROM remote_backups") {
            let scope = (row["backup_point"] as String) + "/" + (row["collect_point"] as String)
            let record: [String: Any] = ["digest": row["digest"] as String, "size": row["size"] as Int64,
                                         "created": row["created"] as Double, "listed": true]
            try put("backups", scope, row["location"], try json(record))
        }
        // `encryptions` → `encrypt`: the settings key is computed as it was; the ciphertext is kept alive.
        for row in try Row.fetchAll(db, sql: "SELECT * FROM encryptions") {
            let ciphertext: String = row["ciphertext"]
            try put("encrypt", row["settings"], row["plaintext"], Data(ciphertext.utf8), keeps: ciphertext)
        }
        // `first_seen` (nanoseconds) and `placements`, as `FirstSeen` and `Placements` read them.
        for row in try Row.fetchAll(db, sql: "SELECT * FROM first_seen") {
            try put("first-seen", "", row["digest"], Data(String(row["time"] as Int64).utf8))
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM placements") {
            let digest: String = row["digest"]
            try put("placements", "", row["place"], Data(digest.utf8), keeps: digest)
        }
    }
}
