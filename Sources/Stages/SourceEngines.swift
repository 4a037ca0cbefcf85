import Pipeline

enum SourceEngines {
    static let all: [EngineSpec] = [files, remoteFiles, postgresql, mysql, ldap, dovecot, sqlite, command]

    static let files = EngineSpec("files", .source, "A local directory tree, with include/exclude globs.", implemented: true, parameters: [
        ParameterSpec("path", .path, required: true, "The directory to back up."),
        ParameterSpec("exclude", .list, "Globs (gitignore style) of paths to leave out; `@FILE` reads patterns from a file."),
        ParameterSpec("include", .list, "Globs of paths to keep even when an exclude matches; `@FILE` reads a file."),
        ParameterSpec("one_file_system", .bool, default: "false", "Do not cross into other mounted file systems."),
    ])

    static let remoteFiles = EngineSpec("remote_files", .source,
                                        "A remote directory tree pulled with rsync over ssh, or over sftp.", implemented: true,
        parameters: [
        ParameterSpec("url", .url, required: true, "ssh://user@host[:port]/path (rsync over ssh) or sftp://user@host[:port]/path (libcurl)."),
        ParameterSpec("exclude", .list, "Globs of paths to leave out."),
    ] + TransportParameters.ssh, exclusive: [["known_hosts", "host_key_sha256"]],
        resourceKeys: { TransportParameters.hostKey($0.string("url")) })

    static let postgresql = EngineSpec("postgresql", .source,
                                       "A PostgreSQL database with pg_dump, or the whole cluster with pg_dumpall.", implemented: true,
        parameters: [
        ParameterSpec("database", .string, "The database to dump; leave it out to dump every database, roles and globals (pg_dumpall)."),
        ParameterSpec("host", .string, "Server host name or socket directory (default: the local socket)."),
        ParameterSpec("port", .int(1...65535), default: "5432", "Server port."),
        ParameterSpec("user", .string, "Role to connect as."),
        ParameterSpec("password", .secret, "Password, passed through a temporary PGPASSFILE."),
        ParameterSpec("password_file", .path, "File whose first line is the password."),
        ParameterSpec("sudo_user", .string, "Run pg_dump as this local user (for example postgres) through sudo."),
        ParameterSpec("format", .choice(["plain", "custom"]), default: "plain", "pg_dump output format."),
    ], exclusive: [["password", "password_file"]],
        resourceKeys: { ["postgresql:\($0.string("host") ?? "local"):\(port($0, 5432))"] })

    static let mysql = EngineSpec("mysql", .source,
                                  "A MySQL or MariaDB database with mysqldump or mariadb-dump (--single-transaction).", implemented: true,
        parameters: [
        ParameterSpec("database", .string, "The database to dump; leave it out to dump them all."),
        ParameterSpec("host", .string, "Server host name (default: the local socket)."),
        ParameterSpec("port", .int(1...65535), default: "3306", "Server port."),
        ParameterSpec("socket", .path, "Server socket."),
        ParameterSpec("user", .string, "User to connect as."),
        ParameterSpec("password", .secret, "Password, passed through a temporary --defaults-extra-file."),
        ParameterSpec("password_file", .path, "File whose first line is the password."),
        ParameterSpec("sudo_user", .string, "Run the dump as this local user through sudo."),
    ], exclusive: [["password", "password_file"], ["host", "socket"]],
        resourceKeys: { ["mysql:\($0.string("host") ?? $0.string("socket") ?? "local"):\(port($0, 3306))"] })

    static let ldap = EngineSpec("ldap", .source,
                                 "An OpenLDAP directory: slapcat on the server, or ldapsearch over ldap:// or ldaps://.", implemented: true,
        parameters: [
        ParameterSpec("database", .int(0...99), "slapcat database number (-n); 1 when neither suffix nor url is set."),
        ParameterSpec("suffix", .string, "slapcat database suffix (-b), instead of a number."),
        ParameterSpec("slapd_config", .path, "slapd configuration file or directory for slapcat (-f / -F)."),
        ParameterSpec("url", .url, "ldap:// or ldaps:// URL of a remote server (uses ldapsearch)."),
        ParameterSpec("bind_dn", .string, "DN to bind as with url."),
        ParameterSpec("password", .secret, "Bind password, passed in a temporary file (-y)."),
        ParameterSpec("password_file", .path, "File whose first line is the bind password."),
        ParameterSpec("base", .string, "Search base with url."),
    ], exclusive: [["database", "suffix", "url"], ["password", "password_file"]],
        resourceKeys: { ["ldap:\($0.string("url") ?? "local")"] })

    static let dovecot = EngineSpec("dovecot", .source, "Dovecot mailboxes with doveadm backup (a maildir per user).",
                                    implemented: true, parameters: [
        ParameterSpec("user", .string, "The user whose mail to back up; leave it out for every user doveadm lists."),
        ParameterSpec("config", .path, "dovecot.conf for doveadm (-c); default: the system's."),
    ], resourceKeys: { _ in ["dovecot:local"] })

    static let sqlite = EngineSpec("sqlite", .source,
                                   "An SQLite database, copied with the online backup API (consistent while in use).", implemented: true, parameters: [
        ParameterSpec("path", .path, required: true, "The database file."),
    ])

    static let command = EngineSpec("command", .source, "The standard output of any command.", implemented: true, parameters: [
        ParameterSpec("command", .string, required: true, "The command line, run by /bin/sh -c; its stdout is the data."),
        ParameterSpec("restore_command", .string, "Command that restores: it reads the data on stdin."),
        ParameterSpec("environment", .map, "Extra environment variables for the command."),
    ])

    private static func port(_ parameters: Parameters, _ fallback: Int) -> Int {
        if case .int(let port)? = parameters["port"] { return port }
        return fallback
    }
}
