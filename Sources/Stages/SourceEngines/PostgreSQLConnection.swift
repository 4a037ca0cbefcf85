import Foundation
import Pipeline

/// How the PostgreSQL tools reach the server: host, port, user as options; the password through a
/// temporary PGPASSFILE given only to the tool's own environment.
struct PostgreSQLConnection: Sendable {
    let host: String?
    let port: Int?
    let user: String?
    let password: Secret?
    let sudoUser: String?
    /// Configured programs by tool name (`pg_dump` → `pg_dump_command`).
    let commands: [String: String]

    init(_ parameters: EngineParameters) {
        host = parameters.string("host")
        port = parameters.int("port")
        user = parameters.string("user")
        password = parameters.secret("password")
        sudoUser = parameters.string("sudo_user")
        var commands: [String: String] = [:]
        for tool in ["pg_dump", "pg_dumpall", "psql", "pg_restore"] { commands[tool] = parameters.string(tool + "_command") }
        self.commands = commands
    }

    var options: [String] {
        var options = ["--no-password"]
        if let host { options += ["--host", host] }
        if let port { options += ["--port", String(port)] }
        if let user { options += ["--username", user] }
        return options
    }

    /// Runs `body` with the environment the tools need; the password file is removed afterwards.
    func withEnvironment<T>(_ secrets: Secrets, _ body: ([String: String]) throws -> T) throws -> T {
        guard let secret = password else { return try body([:]) }
        let password = try secrets.reveal(secret)
        // .pgpass format: fields separated by `:`, with `:` and `\` escaped.
        let escaped = password.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ":", with: "\\:")
        let file = try SecretFile(name: "pgpass", content: "*:*:*:*:\(escaped)\n", owner: sudoUser)
        defer { file.remove() }
        return try body(["PGPASSFILE": file.path])
    }

    func tool(_ name: String) throws -> ExternalTool {
        try DumpOptions.tool(commands[name], names: [name], package: "postgresql-client")
    }
}

/// pg_dump's custom format records when it was made, so two dumps of unchanged data differ by those
/// bytes alone. They are set to zero (pg_restore reads them only to print them), so unchanged data gives
/// an identical dump and nothing downstream runs again.
struct PgDumpTimestampEraser {
    private var header: [UInt8] = []
    private var done = false
    let sink: (UnsafeRawBufferPointer) throws -> Void

    init(sink: @escaping (UnsafeRawBufferPointer) throws -> Void) { self.sink = sink }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !done else { return try sink(bytes) }
        header.append(contentsOf: bytes)
        if header.count >= 256 { try flush() }
    }

    mutating func finish() throws { if !done { try flush() } }

    private mutating func flush() throws {
        done = true
        Self.erase(&header)
        try header.withUnsafeBytes { try sink($0) }
        header = []
    }

    /// Header: "PGDMP", version (3 bytes), int size, offset size, format; the compression (an int before
    /// 1.15, one byte since); then the creation time as 7 ints, each a sign byte and `int size` bytes.
    static func erase(_ header: inout [UInt8]) {
        guard header.count > 11, header.starts(with: Array("PGDMP".utf8)) else { return }
        let version = (Int(header[5]), Int(header[6]))
        let intSize = Int(header[8])
        var offset = 11 + (version >= (1, 15) ? 1 : 1 + intSize)
        for _ in 0..<7 {
            guard offset + 1 + intSize <= header.count else { return }
            for index in offset..<(offset + 1 + intSize) { header[index] = 0 }
            offset += 1 + intSize
        }
    }
}

/// Since PostgreSQL 15.14 a plain dump brackets its SQL with `\restrict KEY` … `\unrestrict KEY` (so
/// that data cannot run psql meta-commands at restore), with a new random key each time: unchanged
/// data would never give the same dump. pg_dump keeps its random key (a key on its command line would
/// show in `ps`); these lines get a stable one instead — secret, a keyed hash of the stage under the
/// state directory's key. Only whole lines that start with the meta-command are touched: data lines
/// cannot (COPY escapes a leading backslash).
struct RestrictKeyRewriter {
    let key: String
    let sink: (UnsafeRawBufferPointer) throws -> Void
    private var atLineStart = true
    private var pending: [UInt8] = []

    init(key: String, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.key = key
        self.sink = sink
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        var index = 0
        var runStart = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if !pending.isEmpty {
                pending.append(byte)
                if byte == 0x0A {
                    try flushPending()
                    runStart = index
                    atLineStart = true
                } else if pending.count > 256 {  // too long to be a \restrict line
                    try pending.withUnsafeBytes { try sink($0) }
                    pending = []
                    atLineStart = false
                    runStart = index
                }
                continue
            }
            if atLineStart && byte == 0x5C {
                try sink(UnsafeRawBufferPointer(rebasing: bytes[runStart..<(index - 1)]))
                pending = [byte]
                continue
            }
            atLineStart = byte == 0x0A
        }
        if pending.isEmpty && runStart < bytes.count { try sink(UnsafeRawBufferPointer(rebasing: bytes[runStart..<bytes.count])) }
    }

    mutating func finish() throws { if !pending.isEmpty { try flushPending() } }

    private mutating func flushPending() throws {
        let line = String(decoding: pending, as: UTF8.self)
        var output = pending
        for command in ["\\restrict ", "\\unrestrict "] where line.hasPrefix(command) {
            output = Array((command + key + (line.hasSuffix("\n") ? "\n" : "")).utf8)
        }
        try output.withUnsafeBytes { try sink($0) }
        pending = []
    }
}
