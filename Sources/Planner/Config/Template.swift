/// A string with `{variable}` references; `{{` and `}}` stand for literal braces.
public struct Template: Sendable, Equatable {
    public enum Segment: Sendable, Equatable {
        case text(String)
        case variable(String)
    }

    public let segments: [Segment]

    init(segments: [Segment]) { self.segments = segments }

    enum ParseError: Error, Equatable, CustomStringConvertible {
        case unclosed(offset: Int)
        case strayClosingBrace(offset: Int)
        case badName(String, offset: Int)

        var description: String {
            switch self {
            case .unclosed: return "`{` is never closed; write `{{` for a literal brace"
            case .strayClosingBrace: return "`}` closes nothing; write `}}` for a literal brace"
            case let .badName(name, _): return "`{\(name)}` is not a variable name (letters, digits and _); write `{{` for a literal brace"
            }
        }

        var offset: Int {
            switch self {
            case let .unclosed(offset), let .strayClosingBrace(offset), let .badName(_, offset): return offset
            }
        }
    }

    init(parsing text: String) throws {
        var segments: [Segment] = []
        var literal = ""
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            let next = index + 1 < characters.count ? characters[index + 1] : nil
            if character == "{" && next == "{" {
                literal.append("{")
                index += 2
            } else if character == "}" && next == "}" {
                literal.append("}")
                index += 2
            } else if character == "{" {
                guard let close = characters[(index + 1)...].firstIndex(of: "}") else { throw ParseError.unclosed(offset: index) }
                let name = String(characters[(index + 1)..<close])
                guard Template.isName(name) else { throw ParseError.badName(name, offset: index) }
                if !literal.isEmpty { segments.append(.text(literal)); literal = "" }
                segments.append(.variable(name))
                index = close + 1
            } else if character == "}" {
                throw ParseError.strayClosingBrace(offset: index)
            } else {
                literal.append(character)
                index += 1
            }
        }
        if !literal.isEmpty { segments.append(.text(literal)) }
        self.segments = segments
    }

    static func isName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    var variables: [String] {
        segments.compactMap { if case .variable(let name) = $0 { return name } else { return nil } }
    }

    var isConstant: Bool { variables.isEmpty }

    /// The text with every variable replaced; the names that `scope` lacks are thrown together.
    func expand(_ scope: VariableScope) throws -> String {
        let missing = variables.filter { scope[$0] == nil }
        if !missing.isEmpty { throw MissingVariables(names: missing) }
        return segments.map { segment in
            switch segment {
            case .text(let text): return text
            case .variable(let name): return scope[name]!
            }
        }.joined()
    }

    struct MissingVariables: Error {
        let names: [String]
    }
}
