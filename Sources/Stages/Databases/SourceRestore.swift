import Foundation
import Pipeline

/// Putting a restored dump back where it came from: a database, a directory server, a file, a command.
public enum SourceRestore {
    public struct Request: Sendable {
        /// The dump file (or directory) as restored from the backup.
        public let data: String
        /// Where to: a database name, a file, a user; nil for the source's own.
        public let into: String?
        /// Restore into a target that is not empty.
        public let replace: Bool

        public init(data: String, into: String?, replace: Bool) {
            self.data = data
            self.into = into
            self.replace = replace
        }
    }

    /// Restores and returns a line saying what was done. `node` is the source's dump stage.
    public static func restore(_ node: StageNode, _ request: Request, cancellation: CancellationFlag) throws -> String {
        switch node.engine {
        case "postgresql": return try PostgreSQLRestore(node.parameters).restore(request, cancellation: cancellation)
        case "mysql": return try MySQLRestore(node.parameters).restore(request, cancellation: cancellation)
        case "ldap": return try LDAPRestore(node.parameters).restore(request, cancellation: cancellation)
        case "dovecot": return try DovecotRestore(node.parameters).restore(request, cancellation: cancellation)
        case "sqlite": return try SQLiteRestore.restore(request)
        case "command": return try CommandRestore(node.parameters).restore(request, cancellation: cancellation)
        default:
            throw StageFailure("a \(node.engine) source is restored as files: they are in \(request.data)")
        }
    }

    /// Database names are used in SQL and on command lines: plain ones only.
    static func checkName(_ name: String, what: String) throws {
        guard !name.isEmpty, !name.hasPrefix("-"), name.allSatisfy({ $0.isLetter || $0.isNumber || "_-$".contains($0) }) else {
            throw StageFailure("`\(name)` is not a \(what) polyarchiv can restore into: use letters, digits, `_`, `-` and `$`")
        }
    }

    static func input(_ path: String) throws -> FileHandle {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StageFailure("cannot read \(path)") }
        return handle
    }
}

/// psql (plain SQL, with ON_ERROR_STOP) or pg_restore (custom format) into a named database, created
/// when missing; a database that holds tables is refused unless `replace`.
struct PostgreSQLRestore {
    let parameters: Parameters
    let connection: PostgreSQLConnection

    init(_ parameters: Parameters) throws {
        self.parameters = parameters
        connection = try PostgreSQLConnection(parameters)
    }

    func restore(_ request: SourceRestore.Request, cancellation: CancellationFlag) throws -> String {
        let psql = try connection.tool("psql")
        return try connection.withEnvironment { environment in
            func query(_ sql: String, database: String) throws -> String {
                let script = try SecretFile(name: "query.sql", content: sql + "\n", owner: connection.sudoUser)
                defer { script.remove() }
                return try psql.output(connection.options + ["--no-psqlrc", "-At", "-v", "ON_ERROR_STOP=1", "-d", database,
                                                             "-f", script.path],
                                       environment: environment, sudoUser: connection.sudoUser, cancellation: cancellation)
            }
            guard let database = request.into ?? parameters.string("database") else {
                // pg_dumpall: roles, globals and every database, into the server as it is.
                guard request.replace else {
                    throw StageFailure("this dump holds the whole cluster; replaying it changes every database and role on the "
                                       + "server: add --replace to do it, or --into NAME with a per-database source (nothing was changed)")
                }
                try psql.run(connection.options + ["--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-f", request.data],
                             environment: environment, sudoUser: connection.sudoUser, timeout: parameters.timeout,
                             cancellation: cancellation)
                return "restored the whole cluster from \(request.data) with psql"
            }
            try SourceRestore.checkName(database, what: "database name")
            let exists = try query("SELECT 1 FROM pg_database WHERE datname = '\(database)'", database: "postgres")
                .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
            if exists {
                let tables = try query("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                       + "WHERE c.relkind IN ('r', 'v', 'm', 'S', 'f', 'p') "
                                       + "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
                                       database: database).trimmingCharacters(in: .whitespacesAndNewlines)
                if tables != "0" && !request.replace {
                    throw StageFailure("database \(database) is not empty (\(tables) relations); restore into a new database "
                                       + "(--into NAME) or add --replace (nothing was changed)")
                }
            } else {
                _ = try query("CREATE DATABASE \"\(database)\"", database: "postgres")
            }
            if parameters.string("format") == "custom" {
                var arguments = connection.options + ["--exit-on-error", "--no-owner", "-d", database]
                if request.replace { arguments += ["--clean", "--if-exists"] }
                try connection.tool("pg_restore").run(arguments + [request.data], environment: environment,
                                                      sudoUser: connection.sudoUser, timeout: parameters.timeout,
                                                      cancellation: cancellation)
                return "restored database \(database) from \(request.data) with pg_restore"
            }
            try psql.run(connection.options + ["--no-psqlrc", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-f", request.data],
                         environment: environment, sudoUser: connection.sudoUser, timeout: parameters.timeout, cancellation: cancellation)
            return "restored database \(database) from \(request.data) with psql"
        }
    }
}

/// The mariadb (or mysql) client into a named database, created when missing; a database that holds
/// tables is refused unless `replace`.
struct MySQLRestore {
    let parameters: Parameters

    init(_ parameters: Parameters) { self.parameters = parameters }

    func restore(_ request: SourceRestore.Request, cancellation: CancellationFlag) throws -> String {
        let connection = MySQLConnection(parameters)
        let client = try connection.client()
        return try connection.withOptionFile { optionFile in
            guard let database = request.into ?? parameters.string("database") else {
                guard request.replace else {
                    throw StageFailure("this dump holds every database (it drops and recreates their tables, users and grants "
                                       + "included): add --replace to replay it over the server (nothing was changed)")
                }
                try client.run([optionFile], sudoUser: connection.sudoUser, timeout: parameters.timeout, cancellation: cancellation,
                               stdin: try SourceRestore.input(request.data))
                return "restored every database from \(request.data)"
            }
            try SourceRestore.checkName(database, what: "database name")
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
            try client.run([optionFile, "--", database], sudoUser: connection.sudoUser, timeout: parameters.timeout,
                           cancellation: cancellation, stdin: try SourceRestore.input(request.data))
            return "restored database \(database) from \(request.data)"
        }
    }
}

/// slapadd into the local (empty, stopped) database, or ldapadd to a server.
struct LDAPRestore {
    let parameters: Parameters

    init(_ parameters: Parameters) { self.parameters = parameters }

    func restore(_ request: SourceRestore.Request, cancellation: CancellationFlag) throws -> String {
        // --into: an ldap(s):// server for ldapadd, or another slapd configuration for slapadd.
        if let into = request.into, !into.hasPrefix("ldap://") && !into.hasPrefix("ldaps://") {
            var local = parameters
            local["slapd_config"] = .string(into)
            local["url"] = nil
            // The configuration named with --into is the target the user chose.
            return try LDAPRestore(local).restore(.init(data: request.data, into: nil, replace: true), cancellation: cancellation)
        }
        if let url = request.into ?? parameters.string("url") {
            var existing = 0
            try LDAPSearch(parameters, url: url).withConnection { connection in
                do {
                    try ExternalTool.locate(["ldapadd"], package: "ldap-utils")
                        .run(connection + (request.replace ? ["-c"] : []) + ["-f", request.data], timeout: parameters.timeout,
                             cancellation: cancellation)
                } catch let failure as StageFailure where request.replace {
                    // With --replace, entries that are already there are left as they are; anything else fails.
                    let errors = (failure.stderr ?? "").split(separator: "\n").filter { $0.hasPrefix("ldap_add:") }
                    guard !errors.isEmpty, errors.allSatisfy({ $0.contains("Already exists") }) else { throw failure }
                    existing = errors.count
                }
            }
            return "added the entries of \(request.data) to \(url) with ldapadd"
                + (existing > 0 ? " (\(existing) already there, left as they are)" : "")
        }
        guard request.replace || request.into != nil else {
            throw StageFailure("slapadd loads into the local database, which must be empty and slapd stopped: give another "
                               + "configuration with --into, or add --replace once slapd is stopped and the database emptied (nothing was changed)")
        }
        try ExternalTool.locate(["slapadd"], package: "slapd")
            .run(LDAPSource.slapdArguments(parameters) + ["-q", "-l", request.data], timeout: parameters.timeout,
                 cancellation: cancellation)
        return "loaded \(request.data) with slapadd (start slapd again, and check the files' owner)"
    }
}

/// An SQLite database back to a named file (never over an existing one unless `replace`).
enum SQLiteRestore {
    static func restore(_ request: SourceRestore.Request) throws -> String {
        guard let target = request.into else { throw StageFailure("give the file to restore the SQLite database to with --into PATH") }
        if FileManager.default.fileExists(atPath: target) && !request.replace {
            throw StageFailure("\(target) exists; choose another --into or add --replace (nothing was changed)")
        }
        let input = try SourceRestore.input(request.data)
        defer { try? input.close() }
        try AtomicFile.write(target) { sink in
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { try chunk.withUnsafeBytes { try sink($0) } }
        }
        return "restored the SQLite database to \(target)"
    }
}

/// A command source's `restore_command`, reading the data on stdin.
struct CommandRestore {
    let parameters: Parameters

    init(_ parameters: Parameters) { self.parameters = parameters }

    func restore(_ request: SourceRestore.Request, cancellation: CancellationFlag) throws -> String {
        guard let command = parameters.string("restore_command") else {
            throw StageFailure("this command source has no restore_command; its data is in \(request.data)")
        }
        var environment: [String: String] = [:]
        if case .map(let extra)? = parameters["environment"] {
            for (name, value) in extra {
                if case .secret(let secret) = value { environment[name] = try secret.reveal() } else { environment[name] = "\(value)" }
            }
        }
        try ExternalTool(name: "restore_command `\(command)`", path: "/bin/sh")
            .run(["-c", command], environment: environment, timeout: parameters.timeout, cancellation: cancellation,
                 stdin: try SourceRestore.input(request.data))
        return "ran `\(command)` with \(request.data) on its stdin"
    }
}
