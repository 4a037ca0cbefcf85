import Foundation
import Pipeline

/// How the MySQL/MariaDB tools reach the server: everything, password included, in a temporary option
/// file given with --defaults-extra-file (which must come first on the command line).
struct MySQLConnection: Sendable {
    let user: String?
    let password: Secret?
    let host: String?
    let port: Int?
    let socket: String?
    let sudoUser: String?
    let dumpCommand: String?
    let clientCommand: String?

    init(_ parameters: EngineParameters) {
        user = parameters.string("user")
        password = parameters.secret("password")
        host = parameters.string("host")
        port = parameters.int("port")
        socket = parameters.string("socket")
        sudoUser = parameters.string("sudo_user")
        dumpCommand = parameters.string("dump_command")
        clientCommand = parameters.string("client_command")
    }

    /// A value in an option file: double-quoted, with `\` and `"` escaped.
    static func quoted(_ value: String) -> String {
        "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Runs `body` with the option file's argument; the file is removed afterwards.
    func withOptionFile<T>(_ secrets: Secrets, _ body: (String) throws -> T) throws -> T {
        var lines = ["[client]"]
        if let user { lines.append("user=" + Self.quoted(user)) }
        if let password { lines.append("password=" + Self.quoted(try secrets.reveal(password))) }
        if let host {
            lines.append("host=" + Self.quoted(host))
            if let port { lines.append("port=\(port)") }
            lines.append("protocol=TCP")
        }
        if let socket { lines.append("socket=" + Self.quoted(socket)) }
        let file = try SecretFile(name: "client.cnf", content: lines.joined(separator: "\n") + "\n", owner: sudoUser)
        defer { file.remove() }
        return try body("--defaults-extra-file=" + file.path)
    }

    func dumpTool() throws -> ExternalTool {
        try DumpOptions.tool(dumpCommand, names: ["mariadb-dump", "mysqldump"], package: "mariadb-client (or mysql-client)")
    }

    func client() throws -> ExternalTool {
        try DumpOptions.tool(clientCommand, names: ["mariadb", "mysql"], package: "mariadb-client (or mysql-client)")
    }
}
