/// Parameters every engine of a kind accepts, beside its own.
public enum CommonParameters {
    public static func of(_ kind: EngineKind) -> [ParameterSpec] {
        switch kind {
        case .collectPoint: return collectPoint
        case .backupPoint: return backupPoint
        case .source: return source
        case .filter: return [engine]
        case .hook: return hook
        }
    }

    static let engine = ParameterSpec("engine", .string, required: true, "Which engine does the work (see below).")

    static let collectPoint: [ParameterSpec] = [
        engine,
        ParameterSpec("frequency", .frequency, default: "always",
                      "How often the point runs: always, hourly, daily[@HH:MM], weekly[@mon], monthly[@DD], or a duration (6h)."),
        ParameterSpec("tags", .list, default: "[collect]", "Tags that backup points select this collect point by."),
        ParameterSpec("backup_points", .tagRule, default: "{include: ['*']}",
                      "Which backup points receive it: globs on backup point names and tags; an exclusion vetoes."),
        ParameterSpec("sources", .map, required: true, "The sources, by name; each is a map with its own engine."),
        ParameterSpec("filters", .list, "Filters applied once to the collected data, in order (hashes, encrypt)."),
        ParameterSpec("hooks", .list, "Hooks fired for this collect point's events."),
        ParameterSpec("variables", .map, "Variables for this collect point, its sources and its backups."),
    ]

    static let backupPoint: [ParameterSpec] = [
        engine,
        ParameterSpec("frequency", .frequency, default: "always", "How often the point runs, as for collect points."),
        ParameterSpec("tags", .list, default: "[backup]", "Tags that collect points select this backup point by."),
        ParameterSpec("collect_points", .tagRule, default: "{include: ['*']}",
                      "Which collect points it backs up: globs on collect point names and tags; an exclusion vetoes."),
        ParameterSpec("filters", .list, "Filters applied to what this backup point ships, in order."),
        ParameterSpec("hooks", .list, "Hooks fired for this backup point's events."),
        ParameterSpec("variables", .map, "Variables for this backup point."),
        ParameterSpec("variables_for", .map,
                      "Variables for one collect point only: a map from collect point name to variables; they win over all others."),
        ParameterSpec("verify", .bool, default: "true",
                      "Check the newest backup where it is stored, at verify_frequency: downloaded against its SHA-256 and hashes index, git fsck of a clone, restic check --read-data-subset."),
        ParameterSpec("verify_frequency", .frequency, default: "weekly", "How often `verify` runs (as `frequency`)."),
        ParameterSpec("verify_drill", .bool, default: "false",
                      "Also restore each database dump of the newest backup into a scratch database on its server (dropped after) and compare its rows per table with those counted at dump time."),
        ParameterSpec("metadata_url", .url,
                      "Where the metadata document that lists the backups lives (default: beside the backups); a URL ending in / is a directory for it."),
    ]

    static let source: [ParameterSpec] = [
        engine,
        ParameterSpec("destination", .string,
                      "Where the data lands inside the collect point (a file, or a folder ending in /); defaults per engine."),
        ParameterSpec("timeout", .duration, default: "6h", "The source fails when its dump takes longer."),
    ]

    static let hook: [ParameterSpec] = [
        engine,
        ParameterSpec("events", .events, required: true,
                      "When it fires: before_backup, backup_success, backup_error, after_backup, verify_error, before_restore, restore_success, restore_error."),
    ]
}
