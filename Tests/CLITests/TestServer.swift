import Foundation
import Testing

/// A server from Tests/Servers started for one test: it prints its port on its first line when ready.
/// Stopped with SIGKILL (a child started from a test thread may inherit a mask that blocks SIGTERM).
final class TestServer {
    struct Unavailable: Error, CustomStringConvertible { let description: String }

    let process = Process()
    let port: Int

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Servers").path

    init(script: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.directory + "/" + script] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        guard let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let reason = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw Unavailable(description: "\(script) did not start: \(reason.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        self.port = port
    }

    /// Starts the server; when it cannot start, fails the test under CI=true and otherwise returns nil
    /// after printing why the test is skipped.
    static func start(_ script: String, _ arguments: [String]) throws -> TestServer? {
        do {
            return try TestServer(script: script, arguments: arguments)
        } catch let unavailable as Unavailable {
            if ProcessInfo.processInfo.environment["CI"] == "true" { throw unavailable }
            print("skipped: \(unavailable)")
            return nil
        }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
