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
                let restrictKey = try Self.restrictKey(context, cancellation: context.cancellation)
                if let database {
                    try connection.tool("pg_dump").run(connection.options + (format == "custom" ? [] : restrictKey)
                                                       + ["--format", format == "custom" ? "custom" : "plain", "--", database],
                                                       environment: environment, sudoUser: connection.sudoUser,
                                                       timeout: parameters.timeout, cancellation: context.cancellation) {
                        try eraser.write($0)
                    }
                } else {
                    try connection.tool("pg_dumpall").run(connection.options + restrictKey, environment: environment, sudoUser: connection.sudoUser,
                                                          timeout: parameters.timeout, cancellation: context.cancellation) {
                        try eraser.write($0)
                    }
                }
            }
            try eraser.finish()
            return [try writer.finish(location: destination)]
        }
    }

    /// Since PostgreSQL 15.14, a plain dump brackets itself with `\restrict KEY` (so that data cannot run
    /// psql meta-commands at restore), with a random key unless one is given: the dump would differ on
    /// every run. The key given is secret and stable: a keyed hash of the stage, under the state
    /// directory's fingerprint key.
    static func restrictKey(_ context: StageContext, cancellation: CancellationFlag) throws -> [String] {
        guard let fingerprinter = context.fingerprinter else { return [] }
        let help = try ExternalTool.locate(["pg_dump"], package: "postgresql-client").output(["--help"], cancellation: cancellation)
        guard help.contains("--restrict-key") else { return [] }
        return ["--restrict-key=" + fingerprinter.fingerprint("postgresql restrict key " + context.node.id).prefix(40)]
    }
}
