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
            return [try context.store.adopt(temporary)]
        }
    }

    func checkAccess(_ context: RestoreContext) throws -> String {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw StageFailure("cannot read \(path): \(FileIO.lastError)") }
        close(descriptor)
        return "\(path) can be read"
    }

    func putBack(_ data: String, _ request: PutBackRequest, _ context: RestoreContext) throws -> String {
        guard let target = request.into ?? (request.inPlace ? path : nil) else {
            throw StageFailure("give the file to restore the SQLite database to with --into PATH (or --in-place for \(path))")
        }
        if FileManager.default.fileExists(atPath: target) && !request.replace {
            throw StageFailure("\(target) exists; choose another --into or add --replace (nothing was changed)")
        }
        let input = try ExternalTool.input(data)
        defer { try? input.close() }
        try AtomicFile.write(target) { sink in
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { try chunk.withUnsafeBytes { try sink($0) } }
        }
        return "restored the SQLite database to \(target)"
    }
}
