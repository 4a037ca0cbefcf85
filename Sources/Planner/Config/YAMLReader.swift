import Foundation
import Yams

/// Reads one YAML file into a `ConfigNode`, turning every failure into a positioned diagnostic.
/// Nothing a file holds (binary, huge, deeply nested, alias bombs) may crash or hang the program.
enum YAMLReader {
    /// Config files are small; anything bigger is a mistake (or an attack).
    static let maximumFileSize = 4 << 20
    /// Nodes visited while expanding aliases: a billion-laughs document stops here.
    static let maximumNodes = 200_000

    static func read(path: String, sink: inout DiagnosticSink) -> ConfigNode? {
        let start = SourceLocation(file: path, line: 1, column: 1)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            sink.error("cannot read the configuration file: \(describeOpenFailure(path))", at: nil)
            return nil
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maximumFileSize + 1) ?? Data()
        } catch {
            sink.error("cannot read the configuration file: \(error.localizedDescription)", at: start)
            return nil
        }
        if data.count > maximumFileSize {
            sink.error("the file is larger than \(maximumFileSize >> 20) MiB; a configuration is never that big", at: start)
            return nil
        }
        return parse(data: data, file: path, sink: &sink)
    }

    static func parse(data: Data, file: String, sink: inout DiagnosticSink) -> ConfigNode? {
        if let nul = data.firstIndex(of: 0) {
            let location = locate(offset: nul - data.startIndex, in: data, file: file)
            sink.error("the file holds binary data (a NUL byte); a configuration is YAML text", at: location)
            return nil
        }
        guard let text = String(validatingUTF8Data: data) else {
            sink.error("the file is not valid UTF-8 text; save it as UTF-8", at: SourceLocation(file: file, line: 1, column: 1))
            return nil
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            var (message, mark) = describe(error)
            if let mark, let tab = tabIndentation(in: text, near: mark.line) {
                // libyaml's words for it ("found character that cannot start any token") do not say what to do.
                message = "a tab indents line \(tab): YAML indents with spaces only; replace the tab with spaces"
            }
            sink.error(message, at: mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) })
            return nil
        } catch {
            sink.error("cannot parse YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
            return nil
        }
        guard let root else { return nil }
        var converter = Converter(file: file)
        let node = converter.convert(root)
        for diagnostic in converter.sink.diagnostics { sink.error(diagnostic.message, at: diagnostic.location) }
        return converter.exhausted ? nil : node
    }

    /// The line at or just before an error's line whose indentation holds a tab.
    private static func tabIndentation(in text: String, near line: Int) -> Int? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for number in [line, line - 1] where number >= 1 && number <= lines.count {
            if lines[number - 1].prefix(while: { $0 == " " || $0 == "\t" }).contains("\t") { return number }
        }
        return nil
    }

    private static func describe(_ error: YamlError) -> (String, Mark?) {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let detail = context.map { "\($0.text) " } ?? ""
            // `{name}` variables inside a flow map `{…}` are the usual cause.
            let hint = detail.contains("flow") ? "; quote values that contain { or }, such as \"/srv/{name}\"" : ""
            return ("invalid YAML: \(detail)\(problem)\(hint)".trimmingCharacters(in: .whitespaces), mark)
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "`\($0)`" }.joined(separator: ", ")
            return ("key \(keys) appears more than once in the same map; keep one", context.mark)
        case let .reader(problem, _, _, _):
            return ("cannot read YAML text: \(problem)", nil)
        default:
            return ("invalid YAML: \(error)", nil)
        }
    }

    private static func locate(offset: Int, in data: Data, file: String) -> SourceLocation {
        let prefix = data.prefix(offset)
        let line = prefix.reduce(1) { $1 == 10 ? $0 + 1 : $0 }
        let column = offset - (prefix.lastIndex(of: 10).map { $0 - data.startIndex + 1 } ?? 0) + 1
        return SourceLocation(file: file, line: line, column: column)
    }

    private static func describeOpenFailure(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return "\(path) does not exist"
        }
        if isDirectory.boolValue { return "\(path) is a directory; use -C for a directory of *.yaml files" }
        return "\(path) is not readable by this user"
    }

    /// Turns Yams nodes into `ConfigNode`s, applying `<<` merge keys and counting nodes against the budget.
    private struct Converter {
        let file: String
        var sink = DiagnosticSink()
        var visited = 0
        var exhausted = false

        init(file: String) { self.file = file }

        func location(_ mark: Mark?) -> SourceLocation {
            SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
        }

        mutating func convert(_ node: Node) -> ConfigNode {
            visited += 1
            if visited > YAMLReader.maximumNodes {
                if !exhausted {
                    sink.error("the document expands to more than \(YAMLReader.maximumNodes) nodes (an alias bomb?); simplify it",
                               at: location(node.mark))
                }
                exhausted = true
                return .scalar(.init(text: "", location: location(node.mark), isNull: true))
            }
            switch node {
            case .scalar(let scalar):
                let isNull = scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
                return .scalar(.init(text: scalar.string, location: location(scalar.mark), isNull: isNull))
            case .sequence(let sequence):
                return .sequence(sequence.map { convert($0) }, location(sequence.mark))
            case .mapping(let mapping):
                var entries: [ConfigNode.MappingEntry] = []
                var merged: [ConfigNode.MappingEntry] = []
                for (key, value) in mapping {
                    guard case .scalar(let keyScalar) = key else {
                        sink.error("map keys must be plain names, not \(key.isMapping ? "maps" : "lists")", at: location(key.mark))
                        continue
                    }
                    if keyScalar.string == "<<" && keyScalar.style == .plain {
                        merged += mergeEntries(value)
                    } else {
                        entries.append(.init(key: keyScalar.string, keyLocation: location(keyScalar.mark), value: convert(value)))
                    }
                }
                // Keys written in the map win over merged ones.
                let own = Set(entries.map(\.key))
                var seen = Set<String>()
                let inherited = merged.filter { !own.contains($0.key) && seen.insert($0.key).inserted }
                return .mapping(entries + inherited, location(mapping.mark))
            case .alias(let alias):
                sink.error("unresolved alias", at: location(alias.mark))
                return .scalar(.init(text: "", location: location(alias.mark), isNull: true))
            }
        }

        private mutating func mergeEntries(_ value: Node) -> [ConfigNode.MappingEntry] {
            switch convert(value) {
            case .mapping(let entries, _):
                return entries
            case .sequence(let items, _):
                return items.flatMap { item -> [ConfigNode.MappingEntry] in
                    if case .mapping(let entries, _) = item { return entries }
                    sink.error("`<<` merges maps only", at: item.location)
                    return []
                }
            case let other:
                sink.error("`<<` merges maps only, not \(other.typeName)", at: other.location)
                return []
            }
        }
    }
}

private extension Node {
    var isMapping: Bool {
        if case .mapping = self { return true }
        return false
    }
}

private extension String {
    init?(validatingUTF8Data data: Data) {
        guard let decoded = String(bytes: data, encoding: .utf8) else { return nil }
        self = decoded
    }
}
