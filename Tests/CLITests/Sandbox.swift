import Foundation

/// A temporary directory with data, a config and a state directory, for running `polyarchiv apply`.
struct Sandbox {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("pa-apply-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    var state: String { root.appendingPathComponent("state").path }
    var config: String { root.appendingPathComponent("config.yaml").path }

    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    func write(_ relative: String, _ text: String) throws {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func configure(_ yaml: String) throws {
        try yaml.replacingOccurrences(of: "$ROOT", with: root.path).write(toFile: config, atomically: true, encoding: .utf8)
    }

    func apply(_ extra: [String] = []) throws -> CommandLineTests.Result {
        try CommandLineTests.run(["apply", "-c", config, "--state-dir", state] + extra)
    }

    /// A sandbox whose one collect point holds the output of one command.
    static func withCommand(_ command: String, collectPoint: String = "box", source: String = "x") throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              \(collectPoint):
                engine: files
                path: $ROOT/c
                sources: {\(source): {engine: command, command: "\(command)"}}
            """)
        return sandbox
    }

    /// Starts an apply in the background and returns once it holds the state lock (the lock file names it).
    func startLockHolder() throws -> Process {
        let holder = Process()
        holder.executableURL = CommandLineTests.binary
        holder.arguments = ["apply", "-c", config, "--state-dir", state]
        holder.standardOutput = FileHandle.nullDevice
        try holder.run()
        for _ in 0..<100 {
            let text = (try? String(contentsOfFile: state + "/lock", encoding: .utf8)) ?? ""
            if text.contains("PID \(holder.processIdentifier) ") { break }
            usleep(50_000)
        }
        return holder
    }

    /// Runs a shell command and returns its status and output.
    @discardableResult
    static func shell(_ command: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Executions from the journal, through the sqlite3 program: an independent reader.
    func query(_ sql: String) throws -> [String] {
        let result = try Self.shell("sqlite3 -separator '|' '\(state)/journal.sqlite' \"\(sql)\"")
        return result.output.split(separator: "\n").map(String.init)
    }
}
