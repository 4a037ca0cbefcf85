import Foundation
import Pipeline

/// The programs sources, backup points and restores run, with the version each reports, for `--version`:
/// a bug report then says what was installed.
public enum ToolVersions {
    private static let tools: [(label: String, names: [String], arguments: [String])] = [
        ("pg_dump", ["pg_dump"], ["--version"]), ("psql", ["psql"], ["--version"]),
        ("mariadb-dump", ["mariadb-dump", "mysqldump"], ["--version"]), ("slapd", ["slapd"], ["-VV"]),
        ("dovecot", ["dovecot"], ["--version"]), ("sqlite3", ["sqlite3"], ["--version"]), ("rsync", ["rsync"], ["--version"]),
        ("restic", ["restic"], ["version"]), ("ssh", ["ssh"], ["-V"]), ("sudo", ["sudo"], ["--version"]),
    ]

    /// One line per tool: its first line of output, or that it is not installed.
    public static var lines: [String] {
        tools.map { tool in
            guard let found = try? ExternalTool.locate(tool.names, package: tool.label) else { return "\(tool.label): not installed" }
            var output = Data()
            let outcome = try? ChildProcess.run(found.path, tool.arguments, timeout: 5, cancellation: CancellationFlag()) {
                if output.count < 4096 { output.append(contentsOf: $0) }
            }
            // Some print it on stderr (ssh, slapcat).
            let text = String(decoding: output, as: UTF8.self) + "\n" + (outcome?.stderr ?? "")
            let line = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty } ?? "version unknown"
            return "\(tool.label): \(line) (\(found.path))"
        }
    }
}
