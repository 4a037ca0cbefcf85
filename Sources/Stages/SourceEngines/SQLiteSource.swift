import Foundation
import GRDB
import Pipeline

/// `sqlite` source: SQLite's online backup API copies a consistent snapshot of a database that other
/// processes may be writing, into a file in the store. Put back as a file (never over one unless
/// `--replace`).
struct SQLiteSource: SourceEngine {
    static let spec = EngineSpec("sqlite", .source,
                                 "An SQLite database, copied with the online backup API (consistent while in use).", parameters: [
        ParameterSpec("path", .path, required: true, "The database file."),
    ])

    let version = "1"
    let alwaysRuns = true
    let path: String

    init(_ parameters: EngineParameters) throws {
        path = try parameters.required("path")
    }

    func defaultDestination(source name: String) -> String { "\(name).sqlite3" }
    var summary: String { "sqlite \(path)" }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [path] in
            guard FileManager.default.fileExists(atPath: path) else {
                throw StageFailure("the SQLite database \(path) does not exist")
            }
            let temporary = context.store.temporaryPath("sqlite")
            defer { unlink(temporary) }
            do {
                var configuration = Configuration()
                configuration.readonly = true
                configuration.busyMode = .timeout(60)
                let source = try DatabaseQueue(path: path, configuration: configuration)
                let target = try DatabaseQueue(path: temporary)
                try source.backup(to: target)
                try target.close()
                try source.close()
            } catch let error as DatabaseError {
                throw StageFailure("cannot back up the SQLite database \(path): \(error.message ?? "\(error.resultCode)")")
            }
            // Counted in the copy, which nothing else writes: the counts are the snapshot's.
            let counts = try Self.rowCounts(temporary)
            let copy = try context.store.adopt(temporary)
            try DumpRows.save(counts, of: copy, context)
            return [copy]
        }
    }

    var countsRows: Bool { true }

    /// Rows per table of a database file, opened read-only.
    static func rowCounts(_ file: String) throws -> [String: Int] {
        var configuration = Configuration()
        configuration.readonly = true
        do {
            let database = try DatabaseQueue(path: file, configuration: configuration)
            defer { try? database.close() }
            return try database.read { db in
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                var counts: [String: Int] = [:]
                for table in tables {
                    counts[table] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \"\(table.replacingOccurrences(of: "\"", with: "\"\""))\"") ?? 0
                }
                return counts
            }
        } catch let error as DatabaseError {
            throw StageFailure("cannot read the SQLite database \(file): \(error.message ?? "\(error.resultCode)")")
        }
    }

    /// The restored file is its own throw-away server: copied to a scratch file, checked with
    /// `PRAGMA integrity_check`, its rows counted.
    func drill(_ data: String, _ context: RestoreContext) throws -> [String: Int]? {
        let scratch = context.scratch + "/drill-\(UUID().uuidString).sqlite3"
        defer { unlink(scratch) }
        _ = try putBack(data, PutBackRequest(into: scratch, replace: false, inPlace: false, date: Date()), context)
        do {
            let database = try DatabaseQueue(path: scratch)
            let check = try database.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
            try database.close()
            guard check == "ok" else { throw StageFailure("the restored SQLite database fails its integrity check: \(check ?? "?")") }
        } catch let error as DatabaseError {
            throw StageFailure("the restored SQLite database cannot be opened: \(error.message ?? "\(error.resultCode)")")
        }
        return try Self.rowCounts(scratch)
    }

    func checkAccess(_ context: RestoreContext) throws -> String {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw StageFailure("cannot read \(path): \(FileIO.lastError)") }
        close(descriptor)
        return "\(path) can be read"
    }

    /// Written to a temporary name and renamed when whole.
    func putBackIsAtomic(_ request: PutBackRequest) -> Bool { true }

    func putBack(_ data: String, _ request: PutBackRequest, _ context: RestoreContext) throws -> String {
        guard let target = request.into ?? (request.inPlace ? path : nil) else {
            throw StageFailure("give the file to restore the SQLite database to with --into PATH (or --in-place for \(path))")
        }
        var live = stat()
        let exists = lstat(target, &live) == 0
        if exists && !request.replace {
            throw StageFailure("\(target) exists; choose another --into or add --replace (nothing was changed)")
        }
        if exists && live.st_mode & S_IFMT != S_IFREG {
            throw StageFailure("\(target) is not a regular file (a link?); nothing was changed")
        }
        let input = try ExternalTool.input(data)
        defer { try? input.close() }
        // The replaced file's owner and mode, so the application can open what comes back.
        // The live database's write-ahead log and shared memory belong to the file being replaced: left beside
        // the restored one, the next open would replay the old log over it. Moved aside (nothing is deleted)
        // just before the rename, and back if the rename fails.
        var aside: [(from: String, to: String)] = []
        do {
            try AtomicFile.write(target, permissions: exists ? live.st_mode & 0o7777 : 0o600, owner: exists ? live.st_uid : nil,
                                 group: exists ? live.st_gid : nil) { sink in
                while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { try chunk.withUnsafeBytes { try sink($0) } }
                aside = try Self.moveCompanionsAside(of: target, date: request.date)
            }
        } catch {
            for moved in aside { rename(moved.to, moved.from) }
            throw error
        }
        return "restored the SQLite database to \(target)"
            + (aside.isEmpty ? "" : "; its former " + aside.map { ($0.from as NSString).lastPathComponent }.joined(separator: " and ")
               + " moved aside to *.polyarchiv-before-restore-*")
    }

    /// `-wal`, `-shm` and `-journal` beside `target`, renamed to `NAME.polyarchiv-before-restore-DATE`; all of
    /// them or (put back) none.
    static func moveCompanionsAside(of target: String, date: Date) throws -> [(from: String, to: String)] {
        var moved: [(from: String, to: String)] = []
        for suffix in ["-wal", "-shm", "-journal"] {
            let companion = target + suffix
            var info = stat()
            guard lstat(companion, &info) == 0 else { continue }
            let aside = companion + ".polyarchiv-before-restore-" + PutBackRequest.asideStamp(date)
            guard rename(companion, aside) == 0 else {
                let reason = FileIO.lastError
                for done in moved { rename(done.to, done.from) }
                throw StageFailure("cannot move \(companion) aside before restoring \(target): \(reason) (nothing was changed)")
            }
            moved.append((companion, aside))
        }
        return moved
    }
}
