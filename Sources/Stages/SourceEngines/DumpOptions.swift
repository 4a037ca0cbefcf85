import Foundation
import Pipeline

/// `options:` of a database source: extra arguments for its dump tool, given one per item
/// (`--exclude-table-data=logs`, or `-T` then `logs`). Options that polyarchiv sets itself (where the dump
/// goes, its format, the connection) are refused: they would send the dump elsewhere or break the restore.
enum DumpOptions {
    static func parse(_ parameters: EngineParameters, owned: [String]) throws -> [String] {
        let options = parameters.list("options")
        if let first = options.first, !first.hasPrefix("-") {
            throw ConfigurationError("options: `\(first)` is not an option (each item is one argument, the first an option such as "
                                     + "--exclude-table-data=logs)", parameter: "options")
        }
        for option in options where option.hasPrefix("-") {
            let flag = option.split(separator: "=", maxSplits: 1).first.map(String.init) ?? option
            // `-fFILE` as well as `-f FILE`: a short option is its first two characters.
            let short = flag.hasPrefix("--") ? flag : String(flag.prefix(2))
            if owned.contains(short) || owned.contains(flag) {
                throw ConfigurationError("options: `\(option)` is set by polyarchiv itself (the dump's place, format and connection "
                                         + "come from the source's own parameters)", parameter: "options")
            }
        }
        return options
    }

    /// A tool's configured program (`pg_dump_command: /usr/lib/postgresql/16/bin/pg_dump`), else its names on PATH.
    static func tool(_ configured: String?, names: [String], package: String) throws -> ExternalTool {
        try ExternalTool.locate(configured.map { [$0] } ?? names, package: package)
    }
}
