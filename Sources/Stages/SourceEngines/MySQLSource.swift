import Foundation
import Pipeline

/// `mysql` source: mariadb-dump (or mysqldump) of one database or all of them, in one transaction,
/// with routines, events and triggers, and no dump date so that unchanged data gives identical bytes.
/// Put back with the mariadb (or mysql) client into a named database, created when missing; a database
/// that holds tables is refused unless `--replace`, and an all-databases dump is replayed only with it.
struct MySQLSource: SourceEngine {
    static let spec = EngineSpec("mysql", .source, "A MySQL or MariaDB database with mysqldump or mariadb-dump (--single-transaction).",
                                 parameters: [
        ParameterSpec("database", .string, "The database to dump; leave it out to dump them all."),
        ParameterSpec("host", .string, "Server host name (default: the local socket)."),
        ParameterSpec("port", .int(1...65535), default: "3306", "Server port."),
        ParameterSpec("socket", .path, "Server socket."),
        ParameterSpec("user", .string, "User to connect as."),
        ParameterSpec("password", .secret, "Password, passed through a temporary --defaults-extra-file."),
        ParameterSpec("password_file", .path, "File whose first line is the password."),
        ParameterSpec("sudo_user", .string, "Run the dump as this local user through sudo."),
        ParameterSpec("options", .list, "Extra mariadb-dump options, one argument per item, such as --ignore-table=shop.sessions."),
        ParameterSpec("dump_command", .string, "The dump program (a name on PATH or a path; default mariadb-dump, else mysqldump)."),
        ParameterSpec("client_command", .string, "The client program, for restores and drills (default mariadb, else mysql)."),
    ], exclusive: [["password", "password_file"], ["host", "socket"]])

    /// What polyarchiv sets itself: `options` may not.
    static let ownedOptions = ["-r", "--result-file", "--defaults-file", "--defaults-extra-file", "--no-defaults", "-h", "--host",
                               "-P", "--port", "-S", "--socket", "-u", "--user", "-p", "--password", "-A", "--all-databases",
                               "-B", "--databases", "--tab", "-T", "-X", "--xml", "-V", "--version", "-?", "--help"]

    /// InnoDB's statistics tables change when the server recomputes them, not when data changes; the
    /// server rebuilds them, so a dump of every database leaves them out.
    static let volatileTables = ["mysql.innodb_index_stats", "mysql.innodb_table_stats"]

    let version = "1"
    let alwaysRuns = true
    let connection: MySQLConnection
    let database: String?
    let timeout: TimeInterval?
    let options: [String]

    init(_ parameters: EngineParameters) throws {
        connection = MySQLConnection(parameters)
        database = parameters.string("database")
        timeout = parameters.seconds("timeout").map(TimeInterval.init)
        options = try DumpOptions.parse(parameters, owned: Self.ownedOptions)
    }

    func defaultDestination(source name: String) -> String { "\(name).sql" }
    var resourceKeys: [String] { ["mysql:\(connection.host ?? connection.socket ?? "local"):\(connection.port ?? 3306)"] }
    var summary: String { "mariadb-dump " + (database ?? "--all-databases") }
    var putBackOrder: Int { 30 }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let tool = try connection.dumpTool()
            let writer = try context.store.makeWriter()
            var counter = InsertRowCounter()
            try connection.withOptionFile(context.secrets) { optionFile in
                var arguments = [optionFile, "--single-transaction", "--routines", "--events", "--triggers", "--skip-dump-date",
                                 "--hex-blob"] + options
                if let database {
                    arguments += ["--", database]
                } else {
                    arguments += Self.volatileTables.map { "--ignore-table=" + $0 } + ["--all-databases"]
                }
                try tool.run(arguments, sudoUser: connection.sudoUser, timeout: timeout, cancellation: context.cancellation) {
                    counter.consume($0)
                    try writer.write($0)
                    context.progress(writer.count)
                }
            }
            let dump = try writer.finish()
            if countsRows { try DumpRows.save(counter.counts, of: dump, context) }
            return [dump]
        }
    }

    /// Dumps of one database: their INSERT tuples are counted as they stream by.
    var countsRows: Bool { database != nil }

    /// Into a scratch database on the same server (created, then dropped whatever happened; one a killed run
    /// of this host left is dropped by the next drill).
    func drill(_ data: String, _ context: RestoreContext) throws -> [String: Int]? {
        guard database != nil else { return nil }
        let client = try connection.client()
        func query(_ sql: String, cancellation: CancellationFlag? = nil) throws -> String {
            try connection.withOptionFile(context.secrets) { optionFile in
                try client.output([optionFile, "-N", "-B", "-e", sql], sudoUser: connection.sudoUser,
                                  cancellation: cancellation ?? context.cancellation)
            }
        }
        func drop(_ name: String) {
            do { _ = try query("DROP DATABASE IF EXISTS `\(name)`", cancellation: CancellationFlag()) } catch {
                context.warn("the scratch database \(name) could not be dropped: \(error); the next drill will try again")
            }
        }
        let existing = try query("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(ScratchName.databasePrefix)%'")
        for leftover in ScratchName.leftoverDatabases(existing.split(separator: "\n").map(String.init)) {
            drop(leftover)
            context.warn("dropped the scratch database \(leftover) that an interrupted run of this host left")
        }
        let scratch = ScratchName.database()
        defer { drop(scratch) }
        _ = try putBack(data, PutBackRequest(into: scratch, replace: false, inPlace: false, date: Date()), context)
        let tables = try query("SELECT table_name FROM information_schema.tables WHERE table_schema = '\(scratch)' AND table_type = 'BASE TABLE' "
                               + "ORDER BY 1").split(separator: "\n").map(String.init)
        guard !tables.isEmpty else { return [:] }
        let counts = try query(tables.map { "SELECT '\($0)', count(*) FROM `\(scratch)`.`\($0)`" }.joined(separator: " UNION ALL "))
        return Dictionary(counts.split(separator: "\n").compactMap { line -> (String, Int)? in
            let parts = line.split(separator: "\t")
            return parts.count == 2 ? (String(parts[0]), Int(parts[1]) ?? -1) : nil
        }, uniquingKeysWith: { first, _ in first })
    }

    /// `SELECT 1` through the client, with the dump's option file.
    func checkAccess(_ context: RestoreContext) throws -> String {
        let client = try connection.client()
        _ = try connection.withOptionFile(context.secrets) { optionFile in
            try client.output([optionFile, "-N", "-B", "-e", "SELECT 1"] + (database.map { [$0] } ?? []), sudoUser: connection.sudoUser,
                              cancellation: context.cancellation)
        }
        return "connected" + (database.map { " to database \($0)" } ?? " to the server")
    }

    func putBack(_ data: String, _ request: PutBackRequest, _ context: RestoreContext) throws -> String {
        let client = try connection.client()
        let cancellation = context.cancellation
        return try connection.withOptionFile(context.secrets) { optionFile in
            guard let database = request.into ?? self.database else {
                guard request.replace else {
                    throw StageFailure("this dump holds every database (it drops and recreates their tables, users and grants "
                                       + "included): add --replace to replay it over the server (nothing was changed)")
                }
                try client.run([optionFile], sudoUser: connection.sudoUser, timeout: timeout, cancellation: cancellation,
                               stdin: try ExternalTool.input(data))
                return "restored every database from \(data)"
            }
            try ExternalTool.checkName(database, what: "database name")
            let tables = try client.output([optionFile, "-N", "-B", "-e",
                                            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '\(database)'"],
                                           sudoUser: connection.sudoUser, cancellation: cancellation)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if tables != "0" && !request.replace {
                throw StageFailure("database \(database) is not empty (\(tables) tables); restore into a new database (--into NAME) "
                                   + "or add --replace (nothing was changed)")
            }
            try client.run([optionFile, "-e", "CREATE DATABASE IF NOT EXISTS `\(database)`"], sudoUser: connection.sudoUser,
                           timeout: 120, cancellation: cancellation)
            try client.run([optionFile, "--", database], sudoUser: connection.sudoUser, timeout: timeout,
                           cancellation: cancellation, stdin: try ExternalTool.input(data))
            return "restored database \(database) from \(data)"
        }
    }
}
