import Foundation
import Pipeline

/// `mysql` source: mariadb-dump (or mysqldump) of one database or all of them, in one transaction,
/// with routines, events and triggers, and no dump date so that unchanged data gives identical bytes.
struct MySQLSource: StageRunner {
    let version = "1"
    let alwaysRuns = true

    /// InnoDB's statistics tables change when the server recomputes them, not when data changes; the
    /// server rebuilds them, so a dump of every database leaves them out.
    static let volatileTables = ["mysql.innodb_index_stats", "mysql.innodb_table_stats"]

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        let destination = parameters.string("destination") ?? "database.sql"
        return try await context.blocking {
            let connection = MySQLConnection(parameters)
            let tool = try connection.dumpTool()
            let writer = try context.store.makeWriter()
            try connection.withOptionFile { optionFile in
                var arguments = [optionFile, "--single-transaction", "--routines", "--events", "--triggers", "--skip-dump-date",
                                 "--hex-blob"]
                if let database = parameters.string("database") {
                    arguments += ["--", database]
                } else {
                    arguments += Self.volatileTables.map { "--ignore-table=" + $0 } + ["--all-databases"]
                }
                try tool.run(arguments, sudoUser: connection.sudoUser, timeout: parameters.timeout, cancellation: context.cancellation) {
                    try writer.write($0)
                    context.progress(writer.count)
                }
            }
            return [try writer.finish(location: destination)]
        }
    }
}
