/// The INI dialect of Python's RawConfigParser, as the original PolyArchiv read it: `[section]` headers,
/// `name = value` or `name: value`, option names lowercased, `#` and `;` comment lines, indented
/// continuation lines, no interpolation. Duplicate sections and options are errors.
struct IniFile {
    struct Option {
        let name: String
        var value: String
        let location: SourceLocation
    }

    struct Section {
        let name: String
        let location: SourceLocation
        var options: [Option]

        func value(_ name: String) -> String? { options.first { $0.name == name }?.value }
        func option(_ name: String) -> Option? { options.first { $0.name == name } }
    }

    let path: String
    private(set) var sections: [Section] = []

    func section(_ name: String) -> Section? { sections.first { $0.name == name } }

    init(path: String, text: String) throws {
        self.path = path
        var diagnostics = DiagnosticSink()
        var current: Int?
        var lastOption: Int?
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty {
                lastOption = nil
                continue
            }
            if trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            let location = SourceLocation(file: path, line: lineNumber, column: 1)
            // An indented line continues the previous value.
            if line.first == " " || line.first == "\t", let sectionIndex = current, let optionIndex = lastOption {
                sections[sectionIndex].options[optionIndex].value += "\n" + trimmed
                continue
            }
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]") else {
                    diagnostics.error("section header `\(trimmed)` is not closed with `]`", at: location)
                    continue
                }
                let name = String(trimmed.dropFirst().dropLast())
                if let previous = sections.first(where: { $0.name == name }) {
                    diagnostics.error("section [\(name)] appears twice: here and at line \(previous.location.line)", at: location)
                    current = nil
                    continue
                }
                sections.append(Section(name: name, location: location, options: []))
                current = sections.count - 1
                lastOption = nil
                continue
            }
            guard let sectionIndex = current else {
                diagnostics.error("`\(trimmed)` comes before any [section] header", at: location)
                continue
            }
            guard let separator = trimmed.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                diagnostics.error("`\(trimmed)` is not `name = value`", at: location)
                continue
            }
            let name = trimmed[..<separator].trimmingCharacters(in: .whitespaces).lowercased()
            let value = trimmed[trimmed.index(after: separator)...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else {
                diagnostics.error("an option has no name", at: location)
                continue
            }
            if let previous = sections[sectionIndex].options.first(where: { $0.name == name }) {
                diagnostics.error("option `\(name)` appears twice in [\(sections[sectionIndex].name)]: here and at line "
                                  + "\(previous.location.line)", at: location)
                continue
            }
            let column = line.distance(from: line.startIndex, to: line.firstIndex(where: { !$0.isWhitespace }) ?? line.startIndex) + 1
            sections[sectionIndex].options.append(
                Option(name: name, value: value, location: SourceLocation(file: path, line: lineNumber, column: column)))
            lastOption = sections[sectionIndex].options.count - 1
        }
        try diagnostics.check()
    }

    /// `source "db"`, `source db` or `source 'db'` → ("source", "db"); plain names → (name, nil).
    static func splitSectionName(_ name: String) -> (kind: String, argument: String?)? {
        guard let space = name.firstIndex(of: " ") else { return (name, nil) }
        let kind = String(name[..<space])
        var argument = name[name.index(after: space)...].trimmingCharacters(in: .whitespaces)
        if argument.count >= 2, let first = argument.first, first == "\"" || first == "'", argument.last == first {
            argument = String(argument.dropFirst().dropLast())
        }
        guard !argument.isEmpty, !argument.contains(" ") || name.contains("\"") || name.contains("'") else { return nil }
        return (kind, argument)
    }
}
