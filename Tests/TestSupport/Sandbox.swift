import Foundation
import Pipeline

/// A temporary directory with data, a config and a state directory, for running `polyarchiv apply`;
/// removed with everything in it when the test ends, passed or failed.
public final class Sandbox: @unchecked Sendable {
    private let directory: TemporaryDirectory
    public var root: URL { directory.url }

    public init() throws {
        directory = try TemporaryDirectory("pa-apply")
    }

    public var state: String { root.appendingPathComponent("state").path }
    public var config: String { root.appendingPathComponent("config.yaml").path }

    public func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// This host's short name, as polyarchiv records it.
    public static let host = HostName.short()

    /// The metadata document a backup point keeps beside its backups for a host: `BP-CP.HOST.polyarchiv.json`.
    public static func document(_ backupPoint: String, _ collectPoint: String, host: String = Sandbox.host) -> String {
        "\(backupPoint)-\(collectPoint).\(host).polyarchiv.json"
    }

    public func write(_ relative: String, _ text: String) throws {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: false, encoding: .utf8)
    }

    public func configure(_ yaml: String) throws {
        try yaml.replacingOccurrences(of: "$ROOT", with: root.path).write(toFile: config, atomically: false, encoding: .utf8)
    }

    public func apply(_ extra: [String] = []) throws -> CLI.Result {
        try CLI.run(["apply", "-c", config, "--state-dir", state] + extra)
    }

    /// Any command with this sandbox's config and state directory.
    public func run(_ command: String, _ extra: [String] = [], environment: [String: String]? = nil) throws -> CLI.Result {
        try CLI.run([command, "-c", config] + (["gc", "plan", "apply", "check", "verify", "prune"].contains(command) ? ["--state-dir", state] : []) + extra,
                    environment: environment)
    }

    /// A sandbox whose one collect point holds the output of one command.
    public static func withCommand(_ command: String, collectPoint: String = "box", source: String = "x") throws -> Sandbox {
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

    /// A sandbox whose collect point `site` (`data/a.txt`) was backed up once with each text, a second apart
    /// (backups are dated to the second), to a rolling archive `daily` under one name: `b/site.tar.gz`,
    /// `b/site-2.tar.gz`… (same_name: keep_both), each with its listing beside it.
    public static func withDailyBackups(of texts: [String]) throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              daily: {engine: rolling_archive, url: "file://$ROOT/b/{name}.tar.gz", keep: {last: 5}}
            """)
        for text in texts {
            try sandbox.write("data/a.txt", text)
            let run = try sandbox.apply()
            guard run.status == 0 else { throw CLI.CommandFailed(description: "apply failed: \(run.stdout)\(run.stderr)") }
            sleep(1)
        }
        return sandbox
    }

    /// Starts an apply in the background and returns once it holds the state lock (the lock file names it).
    public func startLockHolder() throws -> Process {
        let holder = Process()
        holder.executableURL = CLI.binary
        holder.arguments = ["apply", "-c", config, "--state-dir", state]
        holder.standardOutput = FileHandle.nullDevice
        try holder.run()
        // Until the kernel lists its lock (/proc/locks: `1: POSIX ADVISORY WRITE PID …`).
        for _ in 0..<100 {
            let locks = (try? String(contentsOfFile: "/proc/locks", encoding: .utf8)) ?? ""
            if locks.split(separator: "\n").contains(where: { $0.contains("POSIX") && $0.split(separator: " ").contains("\(holder.processIdentifier)") }) {
                break
            }
            usleep(50_000)
        }
        return holder
    }

    /// Runs a shell command and returns its status and output.
    @discardableResult
    public static func shell(_ command: String) throws -> (status: Int32, output: String) { try CLI.shell(command) }

    /// Executions from the journal, through the sqlite3 program: an independent reader.
    public func query(_ sql: String) throws -> [String] {
        let result = try Self.shell("sqlite3 -separator '|' '\(state)/journal.sqlite' \"\(sql)\"")
        return result.output.split(separator: "\n").map(String.init)
    }
}
