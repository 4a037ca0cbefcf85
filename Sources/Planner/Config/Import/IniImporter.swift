import Stages
import Pipeline
import Foundation

/// `polyarchiv import-ini DIR`: converts an original PolyArchiv configuration directory (`*.global`,
/// `*.collect`, `*.backup`) into one YAML pipeline. Every parameter is mapped or named in a warning;
/// secrets go to files of their own (mode 0600) that the YAML references.
public struct IniImporter {
    public struct Result: Sendable {
        public let yaml: String
        public let warnings: [Diagnostic]
        /// The secret files the YAML references (path and content): nothing is written until `writeSecrets`,
        /// so a preview or a refused conversion leaves no secret on disk.
        let secrets: [(path: String, value: String)]
        public var secretFiles: [String] { secrets.map(\.path) }

        /// Writes each secret file (mode 0600, in a 0700 directory), whole or not at all.
        public func writeSecrets() throws {
            for (path, value) in secrets {
                let directory = (path as NSString).deletingLastPathComponent
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
                // Created 0600 (never readable by others, not even for an instant), under a name nobody planted.
                do {
                    try AtomicFile.write(path, permissions: 0o600) { sink in try Data((value + "\n").utf8).withUnsafeBytes { try sink($0) } }
                } catch let failure as StageFailure {
                    throw StageFailure("cannot write the secret file \(path): \(failure.message)")
                }
            }
        }
    }

    let secretsDirectory: String
    var warnings: [Diagnostic] = []
    var errors = DiagnosticSink()
    var secrets: [(path: String, value: String)] = []
    var root = YAMLMap()

    init(secretsDirectory: String) {
        self.secretsDirectory = secretsDirectory
    }

    public static func convert(directory: String, secretsDirectory: String) throws -> Result {
        var importer = IniImporter(secretsDirectory: secretsDirectory)
        try importer.run(directory)
        return Result(yaml: importer.root.serialized(), warnings: importer.warnings, secrets: importer.secrets)
    }

    mutating func warn(_ message: String, at location: SourceLocation?) {
        warnings.append(Diagnostic(message, at: location))
    }

    private mutating func run(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigError([Diagnostic("\(directory) is not a directory of *.global, *.collect and *.backup files", at: nil)])
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        let files = ["global", "collect", "backup"].flatMap { suffix in
            names.filter { $0.hasSuffix("." + suffix) }.map { (directory + "/" + $0, suffix) }
        }
        guard !files.isEmpty else {
            throw ConfigError([Diagnostic("no *.global, *.collect or *.backup file in \(directory)", at: nil)])
        }
        for (path, suffix) in files {
            guard let text = readable(path) else { continue }
            let ini: IniFile
            do {
                ini = try IniFile(path: path, text: text)
            } catch let error as ConfigError {
                for diagnostic in error.diagnostics { errors.error(diagnostic.message, at: diagnostic.location) }
                continue
            }
            let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            switch suffix {
            case "global": importGlobal(ini)
            case "collect": importCollectPoint(name, ini)
            default: importBackupPoint(name, ini)
            }
        }
        try errors.check()
        separateSharedRemotes()
    }

    /// The file's text, or nil (with a warning, as the original did) when this user cannot read it.
    private mutating func readable(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else {
            warn("skipped: \(path) is not readable by user \(HostIdentity.userName())", at: nil)
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            errors.error("the file is not UTF-8 text", at: SourceLocation(file: path, line: 1, column: 1))
            return nil
        }
        return text
    }

    // MARK: - Files

    private mutating func importGlobal(_ ini: IniFile) {
        for section in ini.sections {
            switch IniFile.splitSectionName(section.name) {
            case ("global", nil)?:
                for option in section.options {
                    warn("`\(option.name)` has no equivalent: polyarchiv runs the programs it finds on PATH", at: option.location)
                }
            case ("variables", nil)?:
                root["variables"] = .map(variables(section))
                warn("global [variables] become top-level variables, visible to every point (the original showed them to "
                     + "global hooks only)", at: section.location)
            case ("hook", let name?)?:
                if let hook = convertHook(name, section, scope: "global") { Self.appendList("hooks", .map(hook), to: &root) }
            default:
                warn("unknown section [\(section.name)] in a .global file; ignored", at: section.location)
            }
        }
    }

    private mutating func importCollectPoint(_ name: String, _ ini: IniFile) {
        guard let point = pointSection(ini) else { return }
        var map = YAMLMap()
        guard let engine = point.option("engine") else {
            errors.error("please specify `engine` in the [point] section", at: point.location)
            return
        }
        let engineName = engine.value.lowercased()
        switch engineName {
        case "files", "git", "archive": map["engine"] = .string(engineName)
        case "subversion":
            map["engine"] = .string("files")
            warn("the subversion collect point has no equivalent: converted to a `files` collect point (nothing is "
                 + "committed to \(point.value("remote_url") ?? "the svn repository"))", at: engine.location)
        default:
            errors.error("unknown collect point engine `\(engine.value)`; the original's engines are files, git, archive, "
                         + "subversion", at: engine.location)
            return
        }
        var rule = YAMLMap()
        for option in point.options where option.name != "engine" {
            switch option.name {
            case "local_path":
                // polyarchiv writes only into a directory it made: the original's own (its backups/ and
                // metadata/) is left as it is, and the new collect point goes beside it.
                var path = convertTemplate(option)
                while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
                path += ".polyarchiv"
                map["path"] = .string(path)
                warn("collect point `\(name)`: polyarchiv writes only into a directory it made, so it collects into \(path); "
                     + "the original's \(option.value) is left untouched (remove it once polyarchiv's first backups are checked)",
                     at: option.location)
            case "frequency": if let frequency = convertFrequency(option) { map["frequency"] = .string(frequency) }
            case "collect_point_tags": map["tags"] = .list(list(option.value))
            case "included_backup_point_tags": rule["include"] = .list(list(option.value))
            case "excluded_backup_point_tags": rule["exclude"] = .list(list(option.value))
            case "commit_email" where engineName == "git": map["author_email"] = .string(convertTemplate(option))
            case "commit_name" where engineName == "git": map["author_name"] = .string(convertTemplate(option))
            case "commit_message" where engineName == "git" || engineName == "subversion":
                if engineName == "git" { map["commit_message"] = .string(convertTemplate(option)) } else { noEquivalent(option) }
            case "archive_name" where engineName == "archive": map["archive_name"] = .string(convertTemplate(option))
            default: noEquivalent(option)
            }
        }
        if !rule.isEmpty { map["backup_points"] = .map(rule) }
        var sources = YAMLMap()
        for section in ini.sections where section.name != "point" {
            switch IniFile.splitSectionName(section.name) {
            case ("variables", nil)?:
                map["variables"] = .map(variables(section))
            case ("source", let sourceName?)?:
                if let source = convertSource(sourceName, section) { sources[sourceName] = .map(source) }
            case ("filter", let filterName?)?:
                if let filter = convertFilter(filterName, section, scope: name) { Self.appendList("filters", .map(filter), to: &map) }
            case ("hook", let hookName?)?:
                if let hook = convertHook(hookName, section, scope: name) { Self.appendList("hooks", .map(hook), to: &map) }
            default:
                warn("unknown section [\(section.name)] in a .collect file; ignored", at: section.location)
            }
        }
        if sources.isEmpty { warn("collect point `\(name)` has no source", at: point.location) }
        // Sources first, then filters and hooks, whatever the order of the sections.
        let filters = map["filters"], hooks = map["hooks"]
        map["filters"] = nil
        map["hooks"] = nil
        map["sources"] = .map(sources)
        map["filters"] = filters
        map["hooks"] = hooks
        root.update("collect_points") { $0[name] = .map(map) }
    }

    private mutating func importBackupPoint(_ name: String, _ ini: IniFile) {
        guard let point = pointSection(ini) else { return }
        guard let engine = point.option("engine") else {
            errors.error("please specify `engine` in the [point] section", at: point.location)
            return
        }
        let engineName = engine.value.lowercased()
        guard ["git", "gitlab", "synchronize", "archive", "rolling_archive", "restic"].contains(engineName) else {
            errors.error("unknown backup point engine `\(engine.value)`; the original's engines are git, gitlab, synchronize, "
                         + "archive, rolling_archive, restic", at: engine.location)
            return
        }
        var map = convertBackupPoint(name, engineName, point)
        for section in ini.sections where section.name != "point" {
            switch IniFile.splitSectionName(section.name) {
            case ("variables", nil)?:
                map["variables"] = .map(variables(section))
            case ("variables", let collectPoint?)?:
                let values = variables(section)
                map.update("variables_for") { $0[collectPoint] = .map(values) }
            case ("filter", let filterName?)?:
                if let filter = convertFilter(filterName, section, scope: name) { Self.appendList("filters", .map(filter), to: &map) }
            case ("hook", let hookName?)?:
                if let hook = convertHook(hookName, section, scope: name) { Self.appendList("hooks", .map(hook), to: &map) }
            default:
                warn("unknown section [\(section.name)] in a .backup file; ignored", at: section.location)
            }
        }
        root.update("backup_points") { $0[name] = .map(map) }
    }

    private mutating func pointSection(_ ini: IniFile) -> IniFile.Section? {
        guard let point = ini.section("point") else {
            errors.error("the [point] section is missing; it must name the `engine`", at: SourceLocation(file: ini.path, line: 1, column: 1))
            return nil
        }
        return point
    }

    // MARK: - Helpers shared by the converters

    mutating func noEquivalent(_ option: IniFile.Option, _ why: String = "") {
        warn("`\(option.name)` has no equivalent in polyarchiv; dropped" + (why.isEmpty ? "" : " (\(why))"), at: option.location)
    }

    /// `a, b ,c` → [a, b, c]; empty items dropped, as the original's strip_split.
    func list(_ text: String) -> [YAMLValue] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { .string($0) }
    }

    /// The original's Python format strings are polyarchiv templates already, except format specs (`{d:>3}`).
    mutating func convertTemplate(_ option: IniFile.Option) -> String {
        var text = option.value
        if let range = text.range(of: #"\{([A-Za-z_][A-Za-z0-9_]*)[:!][^}]*\}"#, options: .regularExpression) {
            warn("format specifications such as `\(text[range])` are not supported; kept the plain variable", at: option.location)
            while let match = text.range(of: #"\{([A-Za-z_][A-Za-z0-9_]*)[:!][^}]*\}"#, options: .regularExpression) {
                let name = text[match].dropFirst().prefix { $0 != ":" && $0 != "!" }
                text.replaceSubrange(match, with: "{\(name)}")
            }
        }
        return text
    }

    /// The original's frequencies, in polyarchiv's syntax.
    mutating func convertFrequency(_ option: IniFile.Option) -> String? {
        let value = option.value.trimmingCharacters(in: .whitespaces).lowercased()
        if value.isEmpty { return nil }
        if let seconds = Int(value), seconds > 0 { return TimeSpan.format(seconds: seconds) }
        if value == "daily" || value == "weekly" { return value }
        let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        if value.hasPrefix("daily:"), let hour = Int(value.dropFirst(6)), (0...23).contains(hour) {
            return String(format: "daily@%02d:00", hour)
        }
        if value.hasPrefix("weekly:"), let day = Int(value.dropFirst(7)), (0...6).contains(day) { return "weekly@" + weekdays[day] }
        if value.hasPrefix("monthly:"), let day = Int(value.dropFirst(8)), (1...28).contains(day) { return "monthly@\(day)" }
        warn("frequency `\(option.value)` is not valid (the original ran such points every time); converted to `always`",
             at: option.location)
        return nil
    }

    /// A secret for a file of its own (mode 0600, written by `Result.writeSecrets`); returns that file's path.
    mutating func storeSecret(_ value: String, name: String, option: IniFile.Option) -> String {
        let safe = name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }
        let path = (secretsDirectory as NSString).appendingPathComponent(String(safe))
        secrets.append((path, value))
        warn("the secret `\(option.name)` was moved to \(path) (mode 0600) and is referenced from the YAML", at: option.location)
        return path
    }

    /// A `[variables]` section as a YAML map.
    mutating func variables(_ section: IniFile.Section) -> YAMLMap {
        var map = YAMLMap()
        for option in section.options { map[option.name] = .string(convertTemplate(option)) }
        return map
    }

    static func appendList(_ key: String, _ value: YAMLValue, to map: inout YAMLMap) {
        if case .list(let items)? = map[key] { map[key] = .list(items + [value]) } else { map[key] = .list([value]) }
    }
}
