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
            let store: (UnsafeRawBufferPointer) throws -> Void = { chunk in
                try writer.write(chunk)
                context.progress(writer.count)
            }
            // Custom format: the creation time zeroed; plain SQL: a stable \restrict key.
            var eraser = PgDumpTimestampEraser(sink: store)
            var rewriter = RestrictKeyRewriter(key: Self.restrictKey(context), sink: store)
            let custom = format == "custom"
            let sink: (UnsafeRawBufferPointer) throws -> Void = { custom ? try eraser.write($0) : try rewriter.write($0) }
            try connection.withEnvironment { environment in
                if let database {
                    try connection.tool("pg_dump").run(connection.options + ["--format", custom ? "custom" : "plain", "--", database],
                                                       environment: environment, sudoUser: connection.sudoUser,
                                                       timeout: parameters.timeout, cancellation: context.cancellation, stdout: sink)
                } else {
                    try connection.tool("pg_dumpall").run(connection.options, environment: environment, sudoUser: connection.sudoUser,
                                                          timeout: parameters.timeout, cancellation: context.cancellation, stdout: sink)
                }
            }
            if custom { try eraser.finish() } else { try rewriter.finish() }
            return [try writer.finish(location: destination)]
        }
    }

    /// The stable, secret key of this stage's `\restrict` lines (alphanumeric, as psql wants it).
    static func restrictKey(_ context: StageContext) -> String {
        String((context.fingerprinter?.fingerprint("postgresql restrict key " + context.node.id) ?? Digest.of(context.node.id).hex).prefix(40))
    }
}
