import Foundation
import Pipeline

/// How the PostgreSQL tools reach the server: host, port, user as options; the password through a
/// temporary PGPASSFILE given only to the tool's own environment.
struct PostgreSQLConnection {
    let host: String?
    let port: Int?
    let user: String?
    let password: String?
    let sudoUser: String?

    init(_ parameters: Parameters) throws {
        host = parameters.string("host")
        if case .int(let port)? = parameters["port"] { self.port = port } else { port = nil }
        user = parameters.string("user")
        password = try parameters.secretValue("password")
        sudoUser = parameters.string("sudo_user")
    }

    var options: [String] {
        var options = ["--no-password"]
        if let host { options += ["--host", host] }
        if let port { options += ["--port", String(port)] }
        if let user { options += ["--username", user] }
        return options
    }

    /// Runs `body` with the environment the tools need; the password file is removed afterwards.
    func withEnvironment<T>(_ body: ([String: String]) throws -> T) throws -> T {
        guard let password else { return try body([:]) }
        // .pgpass format: fields separated by `:`, with `:` and `\` escaped.
        let escaped = password.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ":", with: "\\:")
        let file = try SecretFile(name: "pgpass", content: "*:*:*:*:\(escaped)\n", owner: sudoUser)
        defer { file.remove() }
        return try body(["PGPASSFILE": file.path])
    }

    func tool(_ name: String) throws -> ExternalTool {
        try ExternalTool.locate([name], package: "postgresql-client")
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
