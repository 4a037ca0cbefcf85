import ArgumentParser
import Foundation
import Pipeline
import Planner
import Stages

/// What `ls`, `find` and `diff` share: which backups, whose, and how to open encrypted ones.
struct BrowseOptions: ParsableArguments {
    @Option(help: "The collect point (needed when there are several).")
    var collectPoint: String?

    @Option(name: .customLong("from"), help: "Only from this backup point.")
    var backupPoint: String?

    @Option(help: ArgumentHelp("The backups this host made (default: this one) at backup points several hosts share.", valueName: "name"))
    var host: String?

    @Option(help: ArgumentHelp("age identity file that opens encrypted backups (which keep no listing in clear).", valueName: "file"))
    var identity: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    var options: Browse.Options {
        var options = Browse.Options()
        options.collectPoint = collectPoint
        options.backupPoint = backupPoint
        options.host = host
        options.identityFile = identity
        return options
    }

    /// 2026-11-27 (the end of that day) or 2026-11-27T03:00:00Z.
    static func date(_ text: String, _ option: String) throws -> Date {
        let day = DateFormatter()
        day.dateFormat = "yyyy-MM-dd"
        day.timeZone = .current
        guard let date = ISO8601DateFormatter().date(from: text) ?? day.date(from: text).map({ $0.addingTimeInterval(86_399) }) else {
            throw ValidationError("\(option) takes a date such as 2026-11-27 or 2026-11-27T03:00:00Z, not `\(text)`")
        }
        return date
    }

    /// Runs `body`; a failure is one line and exit 1.
    func failing<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as StageFailure {
            Terminal.error("polyarchiv: \(failure)")
            throw ExitCode(1)
        }
    }
}

struct JSONEntry: Encodable {
    let path: String
    let kind: String
    let size: Int64
    let mode: String
    let mtime: String
    let target: String?
    let sha256: String?

    init(_ entry: Tree.Entry) {
        path = entry.path
        kind = ["F": "file", "D": "directory", "L": "symlink"][entry.kind.rawValue] ?? entry.kind.rawValue
        size = entry.size
        mode = String(entry.mode, radix: 8)
        mtime = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(entry.mtime) / 1e9))
        target = entry.target
        sha256 = entry.digest?.hex
    }
}

struct JSONBackupRef: Encodable {
    let backupPoint: String
    let collectPoint: String
    let created: String
    let location: String
    enum CodingKeys: String, CodingKey { case created, location, backupPoint = "backup_point", collectPoint = "collect_point" }

    init(_ backup: Browse.Backup) {
        backupPoint = backup.backupPoint
        collectPoint = backup.collectPoint
        created = ISO8601DateFormatter().string(from: backup.entry.created)
        location = Redaction.maskingURLSecrets(backup.entry.location)
    }
}

extension Tree.Entry {
    /// `drwxr-xr-x  1.2 KiB  2026-11-30 02:30  path -> target`, names escaped as `ls -b` does (a name can hold
    /// a newline or a terminal's escape sequences).
    var line: String {
        let letters = ["F": "-", "D": "d", "L": "l"][kind.rawValue] ?? "?"
        var bits = ""
        for shift in stride(from: 6, through: 0, by: -3) {
            let part = (mode >> UInt32(shift)) & 7
            bits += (part & 4 != 0 ? "r" : "-") + (part & 2 != 0 ? "w" : "-") + (part & 1 != 0 ? "x" : "-")
        }
        let date = Date(timeIntervalSince1970: Double(mtime) / 1e9)
        let size = kind == .file ? RunOutput.bytes(self.size) : "-"
        return letters + bits + "  " + size.padding(toLength: max(9, size.count), withPad: " ", startingAt: 0) + "  "
            + RunDecisions.format(date) + "  " + TerminalText.escaped(path) + (target.map { " -> " + TerminalText.escaped($0) } ?? "")
    }
}

struct LsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List what the newest backup (or the newest at or before --at) of a collect point holds.",
        discussion: """
            Read from the backup point: an archive's listing uploaded beside it, restic's own listing; a git or \
            mirror backup (or an encrypted one, with --identity) is fetched into a private scratch directory.

            Example:
              polyarchiv ls -C /etc/polyarchiv --collect-point www www/img
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var browse: BrowseOptions

    @Option(help: "The newest backup at or before this date (2026-11-27 or 2026-11-27T03:00:00Z).")
    var at: String?

    @Argument(help: "Only this path and what is under it.")
    var path: String?

    func run() throws {
        let pipeline = try config.compile()
        let date = try at.map { try BrowseOptions.date($0, "--at") }
        let (backup, entries) = try browse.failing {
            try Browse.ls(pipeline, browse.options, at: date, path: path, secrets: config.secrets)
        }
        if browse.json {
            Terminal.print(JSONText.line("backup", JSONBackupRef(backup)))
            for entry in entries { Terminal.print(JSONText.line("entry", JSONEntry(entry))) }
            return
        }
        var text = "\(backup.collectPoint) from \(backup.backupPoint), \(ISO8601DateFormatter().string(from: backup.entry.created)):\n"
        for entry in entries { text += entry.line + "\n" }
        Terminal.print(text)
    }
}

struct FindCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find",
        abstract: "Which backups hold a path matching the patterns, newest first, with size and date.",
        discussion: """
            Patterns as for exclude: `*.conf` at any depth, `www/img/` from the collect point's root, `**` across \
            directories. Every backup of every backup point is searched (--collect-point and --from narrow it).

            Example:
              polyarchiv find -C /etc/polyarchiv 'invoice-2026-*.pdf'
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var browse: BrowseOptions

    @Argument(help: "Patterns a path must match (any of them).")
    var patterns: [String]

    struct JSONFound: Encodable {
        let backup: JSONBackupRef
        let entry: JSONEntry
    }

    func validate() throws {
        if patterns.isEmpty { throw ValidationError("give at least one pattern") }
    }

    func run() throws {
        let pipeline = try config.compile()
        let search = try browse.failing {
            try Browse.find(pipeline, browse.options, patterns: patterns, secrets: config.secrets) { Terminal.error("warning: " + $0) }
        }
        let found = search.found
        for backup in search.unsearched { Terminal.error("polyarchiv: not searched: \(backup)") }
        if browse.json {
            for item in found { Terminal.print(JSONText.line("match", JSONFound(backup: JSONBackupRef(item.backup), entry: JSONEntry(item.entry)))) }
        } else {
            var text = ""
            for item in found {
                text += ISO8601DateFormatter().string(from: item.backup.entry.created) + "  \(item.backup.backupPoint) ← \(item.backup.collectPoint)  "
                    + item.entry.line + "\n"
            }
            if found.isEmpty { text = "no backup holds a path matching " + patterns.joined(separator: ", ") + "\n" }
            Terminal.print(text)
        }
        if found.isEmpty && !browse.json { throw ExitCode(1) }
        // Not every backup could be searched: what was found stands, but the answer may be incomplete.
        if !search.unsearched.isEmpty { throw ExitCode(ExitStatus.hooksOnly) }
    }
}

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "What was added (+), removed (-) and changed (M) between two backups of a collect point.",
        discussion: """
            A and B are dates (the newest backup at or before each); by default the two newest backups of the \
            backup point that holds the newest one.

            Example:
              polyarchiv diff -C /etc/polyarchiv --collect-point www 2026-11-01 2026-12-01
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var browse: BrowseOptions

    @Argument(help: "The older backup (a date).")
    var older: String?

    @Argument(help: "The newer backup (a date; default: the newest).")
    var newer: String?

    struct JSONDiff: Encodable {
        struct Change: Encodable {
            let change: String
            let path: String
            let what: [String]
        }
        let from: JSONBackupRef
        let to: JSONBackupRef
    }

    func run() throws {
        let pipeline = try config.compile()
        let olderDate = try older.map { try BrowseOptions.date($0, "A") }
        let newerDate = try newer.map { try BrowseOptions.date($0, "B") }
        let (a, b, differences) = try browse.failing {
            try Browse.diff(pipeline, browse.options, older: olderDate, newer: newerDate, secrets: config.secrets) {
                Terminal.error("warning: " + $0)
            }
        }
        if browse.json {
            Terminal.print(JSONText.line("diff", JSONDiff(from: JSONBackupRef(a), to: JSONBackupRef(b))))
            for difference in differences {
                Terminal.print(JSONText.line("change", JSONDiff.Change(change: "\(difference.change)", path: difference.path, what: difference.what)))
            }
            return
        }
        let formatter = ISO8601DateFormatter()
        var text = "\(b.collectPoint) at \(b.backupPoint): \(formatter.string(from: a.entry.created)) → \(formatter.string(from: b.entry.created))\n"
        for difference in differences {
            text += "\(difference.change.rawValue) \(TerminalText.escaped(difference.path))" + (difference.what.isEmpty ? "" : "  (" + difference.what.joined(separator: ", ") + ")") + "\n"
        }
        if differences.isEmpty { text += "no difference\n" }
        Terminal.print(text)
    }
}
