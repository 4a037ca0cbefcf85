import Foundation
import Pipeline

/// `postgresql` source: pg_dump of one database (plain SQL or custom format), or pg_dumpall of the
/// whole cluster (roles and globals included), streamed into the store.
struct PostgreSQLSource: StageRunner {
    let version = "1"
    let alwaysRuns = true

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        let format = parameters.string("format") ?? "plain"
        let database = parameters.string("database")
        let destination = parameters.string("destination") ?? "database.sql"
        if database == nil && format == "custom" {
            throw StageFailure("format: custom needs a database (pg_dumpall of the whole cluster writes plain SQL)")
        }
        return try await context.blocking {
            let connection = try PostgreSQLConnection(parameters)
            let writer = try context.store.makeWriter()
            var eraser = PgDumpTimestampEraser { chunk in
                try writer.write(chunk)
                context.progress(writer.count)
            }
            try connection.withEnvironment { environment in
                if let database {
                    try connection.tool("pg_dump").run(connection.options + ["--format", format == "custom" ? "custom" : "plain", "--", database],
                                                       environment: environment, sudoUser: connection.sudoUser,
                                                       timeout: parameters.timeout, cancellation: context.cancellation) {
                        try eraser.write($0)
                    }
                } else {
                    try connection.tool("pg_dumpall").run(connection.options, environment: environment, sudoUser: connection.sudoUser,
                                                          timeout: parameters.timeout, cancellation: context.cancellation) {
                        try eraser.write($0)
                    }
                }
            }
            try eraser.finish()
            return [try writer.finish(location: destination)]
        }
    }
}
