import Foundation
import Pipeline

/// `postgresql` source: pg_dump of one database (plain SQL or custom format), or pg_dumpall of the
/// whole cluster (roles and globals included), streamed into the store. Put back with psql (with
/// ON_ERROR_STOP) or pg_restore into a named database, created when missing; a database that holds
/// tables is refused unless `--replace`, and a whole-cluster dump is replayed only with `--replace`.
struct PostgreSQLSource: SourceEngine {
    static let spec = EngineSpec("postgresql", .source, "A PostgreSQL database with pg_dump, or the whole cluster with pg_dumpall.",
                                 parameters: [
        ParameterSpec("database", .string, "The database to dump; leave it out to dump every database, roles and globals (pg_dumpall)."),
        ParameterSpec("host", .string, "Server host name or socket directory (default: the local socket)."),
        ParameterSpec("port", .int(1...65535), default: "5432", "Server port."),
        ParameterSpec("user", .string, "Role to connect as."),
        ParameterSpec("password", .secret, "Password, passed through a temporary PGPASSFILE."),
        ParameterSpec("password_file", .path, "File whose first line is the password."),
        ParameterSpec("sudo_user", .string, "Run pg_dump as this local user (for example postgres) through sudo."),
        ParameterSpec("format", .choice(["plain", "custom"]), default: "plain", "pg_dump output format."),
        ParameterSpec("options", .list, "Extra pg_dump (or pg_dumpall) options, one argument per item, such as --exclude-table-data=logs."),
        ParameterSpec("pg_dump_command", .string, "The pg_dump program (a name on PATH or a path; default pg_dump)."),
        ParameterSpec("pg_dumpall_command", .string, "The pg_dumpall program (default pg_dumpall)."),
        ParameterSpec("psql_command", .string, "The psql program, for restores and drills (default psql)."),
        ParameterSpec("pg_restore_command", .string, "The pg_restore program, for custom-format restores (default pg_restore)."),
    ], exclusive: [["password", "password_file"]])

    /// What polyarchiv sets itself: `options` may not.
    static let ownedOptions = ["-f", "--file", "-F", "--format", "-d", "--dbname", "-h", "--host", "-p", "--port", "-U", "--username",
                               "-w", "--no-password", "-W", "--password", "-V", "--version", "-?", "--help"]

    let version = "1"
    let alwaysRuns = true
    let connection: PostgreSQLConnection
    let database: String?
    let custom: Bool
    let timeout: TimeInterval?
    let options: [String]

    init(_ parameters: EngineParameters) throws {
        connection = PostgreSQLConnection(parameters)
        database = parameters.string("database")
        custom = parameters.string("format") == "custom"
        timeout = parameters.seconds("timeout").map(TimeInterval.init)
        options = try DumpOptions.parse(parameters, owned: Self.ownedOptions)
        if database == nil && custom {
            throw ConfigurationError("format: custom needs a database (pg_dumpall of the whole cluster writes plain SQL)", parameter: "format")
        }
    }

    func defaultDestination(source name: String) -> String { custom ? "\(name).dump" : "\(name).sql" }
    var resourceKeys: [String] { ["postgresql:\(connection.host ?? "local"):\(connection.port ?? 5432)"] }
    var summary: String { database.map { "pg_dump \($0)" } ?? "pg_dumpall" }
    var putBackOrder: Int { 30 }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let writer = try context.store.makeWriter()
            let store: (UnsafeRawBufferPointer) throws -> Void = { chunk in
                try writer.write(chunk)
                context.progress(writer.count)
            }
            // Custom format: the creation time zeroed; plain SQL: a stable \restrict key.
            var eraser = PgDumpTimestampEraser(sink: store)
            var counter = CopyRowCounter()
            let counted: (UnsafeRawBufferPointer) throws -> Void = { chunk in
                counter.consume(chunk)
                try store(chunk)
            }
            var rewriter = RestrictKeyRewriter(key: Self.restrictKey(context), sink: counted)
            let sink: (UnsafeRawBufferPointer) throws -> Void = { custom ? try eraser.write($0) : try rewriter.write($0) }
            try connection.withEnvironment(context.secrets) { environment in
                if let database {
                    try connection.tool("pg_dump").run(connection.options + options + ["--format", custom ? "custom" : "plain", "--", database],
                                                       environment: environment, sudoUser: connection.sudoUser,
                                                       timeout: timeout, cancellation: context.cancellation, stdout: sink)
                } else {
                    try connection.tool("pg_dumpall").run(connection.options + options, environment: environment, sudoUser: connection.sudoUser,
                                                          timeout: timeout, cancellation: context.cancellation, stdout: sink)
                }
            }
            if custom { try eraser.finish() } else { try rewriter.finish() }
            let dump = try writer.finish()
            if countsRows { try DumpRows.save(counter.counts, of: dump, context) }
            return [dump]
        }
    }

    /// The stable, secret key of this stage's `\restrict` lines (alphanumeric, as psql wants it).
    static func restrictKey(_ context: StageContext) -> String {
        String(context.fingerprinter.fingerprint("postgresql restrict key " + context.node.id.description).prefix(40))
    }

    /// Plain dumps of one database: their COPY blocks are counted as they stream by.
    var countsRows: Bool { database != nil && !custom }

    /// Into a scratch database on the same server (created, then dropped whatever happened; one a killed run
    /// left is dropped by the next).
    func drill(_ data: String, _ context: RestoreContext) throws -> [String: Int]? {
        guard database != nil else { return nil }
        try dropLeftovers(context)
        let scratch = ScratchName.database()
        let psql = try connection.tool("psql")
        func query(_ sql: String, _ target: String) throws -> String {
            try connection.withEnvironment(context.secrets) { environment in
                try psql.output(connection.options + ["--no-psqlrc", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", target, "-f", "-"],
                                environment: environment, sudoUser: connection.sudoUser, cancellation: context.cancellation,
                                stdin: try ExternalTool.input(text: sql + "\n"))
            }
        }
        defer { dropScratch(scratch, context) }
        _ = try putBack(data, PutBackRequest(into: scratch, replace: false, inPlace: false, date: Date()), context)
        let tables = try query("SELECT schemaname || '.' || tablename, quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
                               + "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1", scratch)
            .split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }.filter { $0.count == 2 }
        guard !tables.isEmpty else { return [:] }
        let counts = try query(tables.map { "SELECT '\($0[0])', count(*) FROM \($0[1])" }.joined(separator: " UNION ALL "), scratch)
        return Dictionary(counts.split(separator: "\n").compactMap { line -> (String, Int)? in
            let parts = line.split(separator: "\t")
            return parts.count == 2 ? (String(parts[0]), Int(parts[1]) ?? -1) : nil
        }, uniquingKeysWith: { first, _ in first })
    }

    /// psql on `database`, reading `sql` (an interrupted run still gets its cleanup through `cancellation`).
    private func query(_ sql: String, database: String, _ context: RestoreContext, cancellation: CancellationFlag? = nil) throws -> String {
        try connection.withEnvironment(context.secrets) { environment in
            try connection.tool("psql").output(connection.options + ["--no-psqlrc", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-f", "-"],
                                               environment: environment, sudoUser: connection.sudoUser,
                                               cancellation: cancellation ?? context.cancellation, stdin: try ExternalTool.input(text: sql + "\n"))
        }
    }

    /// Drops a scratch database, interrupted or not (its connections too: a killed psql may still hold one).
    private func dropScratch(_ name: String, _ context: RestoreContext) {
        let cleanup = CancellationFlag()
        if (try? query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", database: "postgres", context, cancellation: cleanup)) == nil {
            do { _ = try query("DROP DATABASE IF EXISTS \(name)", database: "postgres", context, cancellation: cleanup) } catch {
                context.warn("the scratch database \(name) could not be dropped: \(error); the next restore or drill will try again")
            }
        }
    }

    /// Scratch databases that runs of this host killed before they could drop them.
    private func dropLeftovers(_ context: RestoreContext) throws {
        let names = try query("SELECT datname FROM pg_database WHERE datname LIKE '\(ScratchName.databasePrefix)%'", database: "postgres", context)
            .split(separator: "\n").map(String.init)
        for name in ScratchName.leftoverDatabases(names) {
            dropScratch(name, context)
            context.warn("dropped the scratch database \(name) that an interrupted run of this host left")
        }
    }

    /// `SELECT 1` in the database (or `postgres` for a whole-cluster dump), as the dump would connect.
    func checkAccess(_ context: RestoreContext) throws -> String {
        let target = database ?? "postgres"
        // What pg_dump (or pg_dumpall) needs, not only a connection: the role's rights on what it will read.
        let role = try query("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user", database: target, context)
            .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").map(String.init)
        let name = role.first ?? "?"
        guard let database else {
            if role.last != "t" {
                throw StageFailure("role \(name) is not a superuser: pg_dumpall (no `database` given) reads every role's password "
                                   + "hash and every database; name a `database`, or connect as a superuser such as postgres")
            }
            return "connected as superuser \(name): pg_dumpall can read the whole cluster"
        }
        let unreadable = try query("""
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'S', 'm', 'v', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
              AND NOT (has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT'))
            ORDER BY 1
            """, database: database, context).split(separator: "\n").map(String.init)
        if !unreadable.isEmpty {
            let shown = unreadable.prefix(5).joined(separator: ", ") + (unreadable.count > 5 ? " and \(unreadable.count - 5) more" : "")
            throw StageFailure("role \(name) cannot read \(unreadable.count) relation(s) of database \(database) that pg_dump reads: "
                               + "\(shown); grant it (`GRANT USAGE ON SCHEMA … TO \(name); GRANT SELECT ON ALL TABLES IN SCHEMA … "
                               + "TO \(name); GRANT SELECT ON ALL SEQUENCES IN SCHEMA … TO \(name)`, or the pg_read_all_data role), "
                               + "or dump as the owner")
        }
        return "connected to database \(database) as \(name), who can read all it holds"
    }

    /// One database: into a scratch database swapped in when whole, or an empty one filled in one transaction.
    func putBackIsAtomic(_ request: PutBackRequest) -> Bool { (request.into ?? database) != nil }

    func putBack(_ data: String, _ request: PutBackRequest, _ context: RestoreContext) throws -> String {
        guard let database = request.into ?? self.database else {
            // pg_dumpall: roles, globals and every database, into the server as it is.
            guard request.replace else {
                throw StageFailure("this dump holds the whole cluster; replaying it changes every database and role on the "
                                   + "server: add --replace to do it, or --into NAME with a per-database source (nothing was changed)")
            }
            try replay(data, into: "postgres", singleTransaction: false, context)
            return "restored the whole cluster from \(data) with psql"
        }
        try ExternalTool.checkName(database, what: "database name")
        if database.hasPrefix(ScratchName.databasePrefix) {  // a drill's own scratch database, just made
            _ = try query("CREATE DATABASE \(database)", database: "postgres", context)
            try replay(data, into: database, singleTransaction: true, context)
            return "restored \(data) into the scratch database \(database)"
        }
        try dropLeftovers(context)
        let exists = try query("SELECT 1 FROM pg_database WHERE datname = '\(database)'", database: "postgres", context)
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        if exists {
            let tables = try query("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                   + "WHERE c.relkind IN ('r', 'v', 'm', 'S', 'f', 'p') "
                                   + "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
                                   database: database, context).trimmingCharacters(in: .whitespacesAndNewlines)
            if tables == "0" {
                // Empty: filled in one transaction, so an interruption or an error leaves it empty.
                try replay(data, into: database, singleTransaction: true, context)
                return "restored database \(database) from \(data) with \(custom ? "pg_restore" : "psql")"
            }
            guard request.replace else {
                throw StageFailure("database \(database) is not empty (\(tables) relations); restore into a new database "
                                   + "(--into NAME) or add --replace (nothing was changed)")
            }
        }
        // Into a scratch database first, swapped in by rename once whole: an error or an interruption leaves
        // the server as it was; what it replaces is renamed aside, never dropped.
        let scratch = ScratchName.database()
        var swapped = false
        defer { if !swapped { dropScratch(scratch, context) } }
        // The replaced database's encoding and collation, not the server's defaults.
        let like = try exists ? " " + query("SELECT format('TEMPLATE template0 ENCODING %L LC_COLLATE %L LC_CTYPE %L', "
                                      + "pg_encoding_to_char(encoding), datcollate, datctype) FROM pg_database WHERE datname = '\(database)'",
                                      database: "postgres", context).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        _ = try query("CREATE DATABASE \(scratch)" + like, database: "postgres", context)
        try replay(data, into: scratch, singleTransaction: true, context)
        // From here on the swap is not interrupted: it is short, and a cut between the server's commit and its
        // answer would leave a state the summary could not tell.
        guard exists else {
            _ = try query("ALTER DATABASE \(scratch) RENAME TO \"\(database)\"", database: "postgres", context, cancellation: CancellationFlag())
            swapped = true
            return "restored database \(database) from \(data) with \(custom ? "pg_restore" : "psql")"
        }
        let aside = Self.asideName(database, request.date)
        try swap(scratch, into: database, aside: aside, context)
        swapped = true
        return "replaced database \(database) from \(data) with \(custom ? "pg_restore" : "psql"); what it held is kept as database \(aside)"
    }

    /// Feeds the dump to psql (plain) or pg_restore (custom), stopping at the first error.
    private func replay(_ data: String, into database: String, singleTransaction: Bool, _ context: RestoreContext) throws {
        try connection.withEnvironment(context.secrets) { environment in
            // The tool may run as sudo_user: it reads the dump through its stdin, opened here.
            let (tool, arguments) = custom
                ? (try connection.tool("pg_restore"), ["--exit-on-error", "--no-owner", "-d", database] + (singleTransaction ? ["--single-transaction"] : []))
                : (try connection.tool("psql"), ["--no-psqlrc", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-f", "-"] + (singleTransaction ? ["--single-transaction"] : []))
            try tool.run(connection.options + arguments, environment: environment, sudoUser: connection.sudoUser, timeout: timeout,
                         cancellation: context.cancellation, stdin: try ExternalTool.input(data))
        }
    }

    /// Renames `database` to `aside` and `scratch` to `database` in one transaction, its owner carried over,
    /// after closing the sessions that hold `database` open (a rename waits for none); tried a few times,
    /// as a client may reconnect between the two.
    private func swap(_ scratch: String, into database: String, aside: String, _ context: RestoreContext) throws {
        let owner = "(SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '\(database)')"
        var attempt = 0
        while true {
            attempt += 1
            do {
                _ = try query("""
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)' AND pid <> pg_backend_pid();
                    BEGIN;
                    DO $polyarchiv$ BEGIN EXECUTE format('ALTER DATABASE \(scratch) OWNER TO %I', \(owner)); END $polyarchiv$;
                    ALTER DATABASE "\(database)" RENAME TO "\(aside)";
                    ALTER DATABASE \(scratch) RENAME TO "\(database)";
                    COMMIT;
                    """, database: "postgres", context, cancellation: CancellationFlag())
                return
            } catch where attempt < 5 {
                // Most often a session not yet gone (pg_terminate_backend does not wait): the transaction changed
                // nothing, so it is tried again.
                usleep(300_000)
            }
        }
    }

    /// `NAME.polyarchiv-before-restore-YYYYMMDD-HHMMSS`, as files are moved aside, within PostgreSQL's 63
    /// bytes (names are plain ASCII: `checkName`).
    static func asideName(_ database: String, _ date: Date) -> String {
        let suffix = ".polyarchiv-before-restore-" + PutBackRequest.asideStamp(date)
        guard database.utf8.count + suffix.count > 63 else { return database + suffix }
        // Shortened: a digest of the whole name keeps two long names apart.
        let tag = "-" + Digest.of(database).hex.prefix(8)
        var head = database
        while head.utf8.count + tag.count + suffix.count > 63 { head.removeLast() }
        return head + tag + suffix
    }
}
