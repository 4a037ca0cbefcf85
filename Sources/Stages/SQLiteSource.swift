import Foundation
import GRDB
import Pipeline

/// `sqlite` source: SQLite's online backup API copies a consistent snapshot of a database that other
/// processes may be writing, into a file in the store.
struct SQLiteSource: StageRunner {
    let version = "1"
    let alwaysRuns = true

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        guard let path = parameters.string("path") else { throw StageFailure("sqlite source without a path") }
        let destination = parameters.string("destination") ?? "database.sqlite3"
        return try await context.blocking {
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
            return [try context.store.adopt(temporary, location: destination)]
        }
    }
}
