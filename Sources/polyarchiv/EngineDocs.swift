import Stages

/// The engine reference: `polyarchiv engines [-v]` and the README's configuration reference come from here.
enum EngineDocs {
    static func text(verbose: Bool) -> String {
        var lines: [String] = []
        for kind in EngineKind.allCases {
            lines.append(kind.plural.capitalized + ":")
            if verbose {
                lines.append("  parameters of every \(kind.rawValue):")
                lines += CommonParameters.of(kind).map { "    " + describe($0) }
            }
            for engine in Engines.specs(kind) {
                lines.append("  \(engine.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(engine.summary)")
                if verbose {
                    lines += engine.parameters.map { "    " + describe($0) }
                    lines += exclusivity(engine).map { "    " + $0 }
                }
            }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    static func describe(_ parameter: ParameterSpec) -> String {
        var text = "\(parameter.name) (\(parameter.type.displayName)"
        if parameter.required { text += ", required" }
        if let value = parameter.defaultValue { text += ", default \(value.replacingOccurrences(of: "\n", with: "\\n"))" }
        return text + "): " + parameter.doc
    }

    static func exclusivity(_ engine: EngineSpec) -> [String] {
        engine.oneOf.map { "one of " + $0.joined(separator: ", ") + " is required" }
            + engine.exclusive.map { "at most one of " + $0.joined(separator: ", ") }
    }

    /// The README's configuration reference, as Markdown tables.
    static func markdown() -> String {
        var lines: [String] = []
        for kind in EngineKind.allCases {
            lines.append("### " + kind.plural.capitalized)
            lines.append("")
            lines.append("Parameters of every \(kind.rawValue):")
            lines.append("")
            lines += table(CommonParameters.of(kind))
            for engine in Engines.specs(kind) {
                lines.append("#### `\(engine.name)` (\(kind.rawValue))")
                lines.append("")
                lines.append(engine.summary)
                lines.append("")
                if !engine.parameters.isEmpty { lines += table(engine.parameters) }
                let notes = exclusivity(engine)
                if !notes.isEmpty {
                    lines += notes.map { "- " + $0 }
                    lines.append("")
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func table(_ parameters: [ParameterSpec]) -> [String] {
        func cell(_ text: String) -> String {
            text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: "\\n")
        }
        return ["| parameter | type | default | description |", "|---|---|---|---|"]
            + parameters.map { parameter in
                let fallback = parameter.required ? "required" : parameter.defaultValue.map { "`\(cell($0))`" } ?? ""
                return "| `\(parameter.name)` | \(cell(parameter.type.displayName)) | \(fallback) | \(cell(parameter.doc)) |"
            } + [""]
    }
}
