import Foundation
import Stages

/// The commented starting configuration `polyarchiv init` writes: a working example (this host's /etc into a
/// local collect point, one archive a day beside it), then every engine with each parameter and its default,
/// commented out, from the same descriptions as `engines -v` and the README.
enum ConfigTemplate {
    static func text(version: String, root: Bool, home: String) -> String {
        let base = root ? "/var/backups/polyarchiv" : home + "/backups/polyarchiv"
        var lines = """
            # polyarchiv configuration, written by `polyarchiv init` (polyarchiv \(version)).
            # It backs up /etc into a local collect point, then keeps one compressed archive a day beside it.
            # Check it:          polyarchiv validate -c THIS_FILE
            # See what would run: polyarchiv plan -c THIS_FILE
            # Run it:            polyarchiv apply -c THIS_FILE   (from cron or the systemd timer)
            # Every engine and parameter is listed, commented out, after the example.

            # Where the journal and store live (the default: /var/lib/polyarchiv as root, else
            # $XDG_STATE_HOME/polyarchiv; --state-dir and $POLYARCHIV_STATE_DIR win over this).
            # state_dir: /var/lib/polyarchiv

            collect_points:
              etc:
                engine: files
                path: \(base)/collect/{name}
                frequency: daily
                sources:
                  config:
                    engine: files
                    path: /etc
                    exclude: ["*.swp", "*~"]
                filters:
                  - engine: hashes

            backup_points:
              local-archives:
                engine: archive
                url: "file://\(base)/archives/{name}/{hostname}-{Y}-{m}-{d}.tar.zst"
                frequency: daily

            # hooks:
            #   - {engine: log, path: /var/log/polyarchiv-{status}.log, events: [backup_success, backup_error]}

            """.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for kind in EngineKind.allCases {
            lines += ["", "# " + String(repeating: "-", count: 98), "# " + kind.plural.capitalized + " (" + placement(kind) + ")", "#"]
            let common = CommonParameters.of(kind)
            if !common.isEmpty {
                lines.append("# Parameters of every \(kind.rawValue):")
                lines += common.map { "#     " + parameter($0) }
                lines.append("#")
            }
            for engine in Engines.specs(kind) {
                lines.append("# \(engine.name): \(engine.summary)")
                lines.append("#     engine: \(engine.name)")
                lines += engine.parameters.map { "#     " + parameter($0) }
                lines += EngineDocs.exclusivity(engine).map { "#     (\($0))" }
                lines.append("#")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `name: default   # type, doc` (or `<required>` when it has no default).
    private static func parameter(_ spec: ParameterSpec) -> String {
        let value = spec.required ? "<required>" : spec.defaultValue.map(yaml) ?? "<none>"
        return "\(spec.name): \(value)   # \(spec.type.displayName)\(spec.required ? ", required" : ""): "
            + spec.doc.replacingOccurrences(of: "\n", with: " ")
    }

    private static func yaml(_ value: String) -> String {
        value.isEmpty || value.contains(where: { "{}[]:#,&*!|>'\"%@`\n".contains($0) }) || value != value.trimmingCharacters(in: .whitespaces)
            ? "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n") + "\""
            : value
    }

    private static func placement(_ kind: EngineKind) -> String {
        switch kind {
        case .source: return "in a collect point's `sources:`, each under a name"
        case .collectPoint: return "under `collect_points:`, each under a name"
        case .filter: return "in a collect or backup point's `filters:` list"
        case .backupPoint: return "under `backup_points:`, each under a name"
        case .hook: return "in `hooks:` lists: top level, collect point or backup point"
        }
    }
}
