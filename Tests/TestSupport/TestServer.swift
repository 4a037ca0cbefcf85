import Foundation

/// A server from Tests/Servers started for one test. It prints, when ready, its port or one line of
/// JSON with what a client needs, then runs until its stdin closes (when the test stops it, or when
/// the test process dies) and stops what it started.
public final class TestServer: @unchecked Sendable {
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public let process = Process()
    private let input = Pipe()
    /// The first line: a port, or a JSON object.
    public let info: [String: Any]
    public var port: Int { info["port"] as? Int ?? 0 }
    /// Its work directory, removed when the server goes.
    private var work: TemporaryDirectory?

    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Servers").path

    public init(script: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.directory + "/" + script] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = input
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if let port = Int(text) {
            info = ["port": port]
        } else if let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] {
            info = object
        } else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let reason = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw Unavailable(description: "\(script) did not start: \(reason.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// Starts the server; when it cannot start, fails the test under CI=true and otherwise returns nil
    /// after printing why the test is skipped.
    public static func start(_ script: String, _ arguments: [String]) throws -> TestServer? {
        do {
            return try TestServer(script: script, arguments: arguments)
        } catch let unavailable as Unavailable {
            if ProcessInfo.processInfo.environment["CI"] == "true" { throw unavailable }
            print("skipped: \(unavailable)")
            return nil
        }
    }

    /// Starts the server in a fresh work directory of its own (removed when the server is).
    public static func start(_ script: String, options: [String] = []) throws -> TestServer? {
        let work = try TemporaryDirectory("pa-server")
        let server = try start(script, [work.path] + options)
        server?.work = work
        return server
    }

    public func string(_ key: String) -> String { info[key].map { "\($0)" } ?? "" }

    /// Closes its stdin so it stops its servers; killed if it has not exited after 20 seconds.
    public func stop() {
        guard process.isRunning else { return }
        try? input.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// The command-line clients of the database test servers, for a test's own queries and checks.
extension TestServer {
    /// `psql` as the server's user (quiet, unaligned, stopping at the first error).
    public func psql() throws -> String {
        let password = try String(contentsOfFile: string("password_file"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return "PGPASSWORD='\(password)' psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p \(port) -U \(string("user"))"
    }

    /// One value (or one line) from a query run in the `postgres` database.
    public func value(_ sql: String) throws -> String {
        try CLI.succeed("\(try psql()) -d postgres -c \"\(sql)\"").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Makes in `database` a table `gated` of 400 rows whose CHECK sleeps half a second for each row unless the
    /// session's role says `polyarchiv.fast = on`: restoring it takes minutes, long enough to interrupt.
    public func makeSlowToRestore(_ database: String) throws {
        _ = try CLI.succeed("""
            \(try psql()) -d \(database) -c "CREATE FUNCTION public.slow(integer) RETURNS boolean LANGUAGE sql AS \\$\\$ SELECT true FROM pg_catalog.pg_sleep(CASE WHEN pg_catalog.current_setting('polyarchiv.fast', true) = 'on' THEN 0 ELSE 0.5 END) \\$\\$; CREATE TABLE gated(id int CHECK (public.slow(id))); SET polyarchiv.fast = on; INSERT INTO gated SELECT generate_series(1, 400)"
            """)
    }

    /// `mariadb` with the server's client configuration, printing bare values.
    public var mariadb: String { "mariadb --defaults-extra-file=\(string("client_config")) -N -B" }

    /// The `host:, port:, user:, password_file:` of a source's configuration.
    public var connection: String {
        "host: 127.0.0.1, port: \(port), user: \(string("user")), password_file: \(string("password_file"))"
    }
}
