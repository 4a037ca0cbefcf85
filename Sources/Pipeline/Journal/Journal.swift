import Foundation
import GRDB

/// The run journal: an SQLite database in the state directory, written in transactions (WAL,
/// synchronous=FULL), so a `kill -9` at any instant leaves it consistent.
public final class Journal: @unchecked Sendable {
    let queue: DatabaseQueue
    public let path: String

    /// Opens (creating it when needed) the journal; `readOnly` never writes, for `plan` and `check`.
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.readonly = readOnly
        if !readOnly {
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
        }
        let file = try DatabaseQueue(path: path, configuration: configuration)
        let migrator = Self.migrator
        if !readOnly {
            try migrator.migrate(file)
            queue = file
        } else if try file.read({ try migrator.hasCompletedMigrations($0) }) {
            queue = file
        } else {
            // A journal of an earlier version, read before any apply migrated it (`check` right after an upgrade,
            // perhaps as a user who may not write it): read through a migrated copy in memory, the file untouched.
            let copy = try DatabaseQueue()
            try file.backup(to: copy)
            try migrator.migrate(copy)
            queue = copy
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE runs(id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, ended REAL,
                    status TEXT NOT NULL, pid INTEGER NOT NULL, command TEXT NOT NULL);
                CREATE TABLE executions(id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, node TEXT NOT NULL,
                    cache_key TEXT, state TEXT NOT NULL, outputs TEXT, started REAL, ended REAL, bytes INTEGER NOT NULL DEFAULT 0,
                    error TEXT);
                CREATE INDEX executions_by_node ON executions(node, state, id);
                CREATE INDEX executions_by_run ON executions(run_id);
                CREATE TABLE cache(cache_key TEXT PRIMARY KEY, node TEXT NOT NULL, outputs TEXT NOT NULL, created REAL NOT NULL);
                CREATE TABLE points(kind TEXT NOT NULL, name TEXT NOT NULL, last_success REAL, last_failure REAL,
                    successes INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, last_duration REAL,
                    last_bytes INTEGER, last_error TEXT, PRIMARY KEY(kind, name));
                CREATE TABLE stat_cache(scope TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
                    ctime INTEGER NOT NULL, inode INTEGER NOT NULL, digest TEXT NOT NULL, PRIMARY KEY(scope, path));
                CREATE TABLE remote_backups(backup_point TEXT NOT NULL, collect_point TEXT NOT NULL, location TEXT NOT NULL,
                    digest TEXT NOT NULL, size INTEGER NOT NULL, created REAL NOT NULL,
                    PRIMARY KEY(backup_point, collect_point, location));
                """)
        }
        migrator.registerMigration("v2-first-seen") { db in
            try db.execute(sql: "CREATE TABLE first_seen(digest TEXT PRIMARY KEY, time INTEGER NOT NULL)")
        }
        migrator.registerMigration("v3-placements") { db in
            try db.execute(sql: "CREATE TABLE placements(place TEXT PRIMARY KEY, digest TEXT NOT NULL)")
        }
        migrator.registerMigration("v4-encryptions") { db in
            try db.execute(sql: "CREATE TABLE encryptions(settings TEXT NOT NULL, plaintext TEXT NOT NULL, ciphertext TEXT NOT NULL, "
                           + "PRIMARY KEY(settings, plaintext))")
        }
        // What engines and the planner keep between runs moves to one namespaced table: the journal's own
        // schema is runs, executions and the cache. Records are carried over (see `LegacyTables`); only the
        // stat cache, a true cache, is dropped.
        migrator.registerMigration("v5-engine-state") { db in
            try db.execute(sql: """
                CREATE TABLE engine_state(namespace TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                    keeps TEXT, PRIMARY KEY(namespace, scope, key));
                """)
            try LegacyTables.carryForward(db)
            try db.execute(sql: """
                DROP TABLE first_seen; DROP TABLE placements; DROP TABLE encryptions; DROP TABLE stat_cache;
                DROP TABLE points; DROP TABLE remote_backups;
                """)
        }
        return migrator
    }

    /// A journal error as a user reads it: a full disk said plainly (SQLite's SQLITE_FULL).
    /// The SQLite library the journal runs on (for `--version`).
    public static var sqliteVersion: String {
        (try? DatabaseQueue().read { try String.fetchOne($0, sql: "SELECT sqlite_version()") } ?? nil).map { "SQLite \($0)" } ?? "SQLite"
    }

    public static func describe(_ error: Error) -> String {
        if let database = error as? DatabaseError, database.resultCode == .SQLITE_FULL { return "the disk is full" }
        return "\(error)"
    }

    // MARK: - Runs

    public func startRun(command: String, at date: Date) throws -> Int64 {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO runs(started, status, pid, command) VALUES (?, 'running', ?, ?)",
                           arguments: [date.timeIntervalSince1970, Int(getpid()), command])
            return db.lastInsertedRowID
        }
    }

    public func finishRun(_ id: Int64, status: String, at date: Date) throws {
        try queue.write { db in
            try db.execute(sql: "UPDATE runs SET ended = ?, status = ? WHERE id = ?",
                           arguments: [date.timeIntervalSince1970, status, id])
            // Stages of this run still marked running were cut short.
            try db.execute(sql: "UPDATE executions SET state = 'interrupted', ended = ? WHERE run_id = ? AND state = 'running'",
                           arguments: [date.timeIntervalSince1970, id])
        }
    }

    /// Runs left `running` by a process that died: marks them crashed.
    public func closeAbandonedRuns() throws {
        try queue.write { db in
            try db.execute(sql: "UPDATE executions SET state = 'interrupted' WHERE state = 'running'")
            try db.execute(sql: "UPDATE runs SET status = 'crashed' WHERE status = 'running'")
        }
    }

    // MARK: - Executions and the cache

    public func startExecution(run: Int64, node: StageID, key: String?, at date: Date) throws -> Int64 {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO executions(run_id, node, cache_key, state, started) VALUES (?, ?, ?, 'running', ?)",
                           arguments: [run, node.description, key, date.timeIntervalSince1970])
            return db.lastInsertedRowID
        }
    }

    /// Records how a stage ended; a success also enters the cache under its key.
    public func finishExecution(_ id: Int64, node: StageID, key: String?, state: String, outputs: [Artifact],
                                bytes: Int64, error: String?, at date: Date) throws {
        let encoded = try Self.encode(outputs)
        try queue.write { db in
            try db.execute(sql: "UPDATE executions SET state = ?, outputs = ?, ended = ?, bytes = ?, error = ? WHERE id = ?",
                           arguments: [state, encoded, date.timeIntervalSince1970, bytes, error, id])
            if state == "succeeded", let key {
                try db.execute(sql: "INSERT OR REPLACE INTO cache(cache_key, node, outputs, created) VALUES (?, ?, ?, ?)",
                               arguments: [key, node.description, encoded, date.timeIntervalSince1970])
            }
        }
    }

    /// Records a stage that did not run (cached, skipped, blocked).
    public func recordExecution(run: Int64, node: StageID, key: String?, state: String, outputs: [Artifact],
                                error: String?, at date: Date) throws {
        let encoded = try Self.encode(outputs)
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO executions(run_id, node, cache_key, state, outputs, started, ended, error)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [run, node.description, key, state, encoded, date.timeIntervalSince1970, date.timeIntervalSince1970, error])
        }
    }

    public func cachedOutputs(key: String) throws -> [Artifact]? {
        try queue.read { db in
            guard let text = try String.fetchOne(db, sql: "SELECT outputs FROM cache WHERE cache_key = ?", arguments: [key]) else {
                return nil
            }
            return try Self.decode(text)
        }
    }

    /// Forgets every cached result and engine state entry that names `digest` (a damaged store object).
    public func forget(digest: Digest) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM engine_state WHERE instr(keeps, ?) > 0", arguments: [digest.hex])
            try db.execute(sql: "DELETE FROM cache WHERE instr(outputs, ?) > 0", arguments: [digest.hex])
        }
    }

    public func forgetCache(key: String) throws {
        try queue.write { db in try db.execute(sql: "DELETE FROM cache WHERE cache_key = ?", arguments: [key]) }
    }

    /// The outputs of the newest successful (or cached) execution of a node: what a skipped point still holds.
    /// Forgets stage executions of runs older than the newest `keepRuns`, except each node's latest
    /// success (what gc keeps alive and what skipped points still hold). Returns how many were forgotten.
    @discardableResult
    public func pruneHistory(keepRuns: Int) throws -> Int {
        try queue.write { db in
            try db.execute(sql: """
                DELETE FROM executions
                WHERE run_id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?)
                  AND id NOT IN (SELECT max(id) FROM executions WHERE state IN ('succeeded', 'cached') AND outputs IS NOT NULL
                                 GROUP BY node)
                """, arguments: [keepRuns])
            return db.changesCount
        }
    }

    public func lastOutputs(node: StageID) throws -> [Artifact]? {
        try queue.read { db in
            guard let text = try String.fetchOne(db, sql: """
                SELECT outputs FROM executions WHERE node = ? AND state IN ('succeeded', 'cached') AND outputs IS NOT NULL
                ORDER BY id DESC LIMIT 1
                """, arguments: [node.description]) else { return nil }
            return try Self.decode(text)
        }
    }

    public struct ExecutionRecord: Sendable {
        public let runID: Int64
        public let node: String
        public let state: String
        public let started: Date?
        public let ended: Date?
        public let bytes: Int64
        public let error: String?
    }

    public func executions(run: Int64? = nil) throws -> [ExecutionRecord] {
        try queue.read { db in
            let rows: [Row]
            if let run {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM executions WHERE run_id = ? ORDER BY id", arguments: [run])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM executions ORDER BY id")
            }
            return rows.map { row in
                ExecutionRecord(runID: row["run_id"], node: row["node"], state: row["state"],
                                started: (row["started"] as Double?).map(Date.init(timeIntervalSince1970:)),
                                ended: (row["ended"] as Double?).map(Date.init(timeIntervalSince1970:)),
                                bytes: row["bytes"], error: row["error"])
            }
        }
    }

    public func lastRunID() throws -> Int64? {
        try queue.read { db in try Int64.fetchOne(db, sql: "SELECT max(id) FROM runs") }
    }

    public func runStatus(_ id: Int64) throws -> String? {
        try queue.read { db in try String.fetchOne(db, sql: "SELECT status FROM runs WHERE id = ?", arguments: [id]) }
    }

    /// Every digest the newest successful execution of each node produced: what `gc` keeps.
    public func liveOutputs() throws -> [Artifact] {
        try queue.read { db in
            let texts = try String.fetchAll(db, sql: """
                SELECT e.outputs FROM executions e
                JOIN (SELECT node, max(id) AS id FROM executions WHERE state IN ('succeeded', 'cached') AND outputs IS NOT NULL
                      GROUP BY node) latest ON e.id = latest.id
                """)
            return try texts.flatMap { try Self.decode($0) }
        }
    }

    /// Every digest an engine's state keeps alive (a stat cache's blobs, a remembered ciphertext): kept by gc.
    public func keptDigests() throws -> Set<Digest> {
        try queue.read { db in
            var result = Set<Digest>()
            let rows = try String.fetchCursor(db, sql: "SELECT keeps FROM engine_state WHERE keeps IS NOT NULL")
            while let text = try rows.next() {
                for hex in text.split(separator: " ") { if let digest = Digest(hex: String(hex)) { result.insert(digest) } }
            }
            return result
        }
    }

    /// The state an engine (or the planner) keeps between runs, under its own namespace.
    public func table(_ namespace: String) -> StateTable { StateTable(namespace: namespace, queue: queue) }

    // MARK: - Health

    /// SQLite's own integrity check: "ok" when the database is sound.
    public func integrityCheck() throws -> String {
        try queue.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }

    static func encode(_ outputs: [Artifact]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(outputs), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> [Artifact] {
        try JSONDecoder().decode([Artifact].self, from: Data(text.utf8))
    }
}
