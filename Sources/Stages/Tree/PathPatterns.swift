import Pipeline
import Foundation

/// gitignore-style patterns: `*.tmp` matches a name at any depth, `cache/` only directories,
/// `/build` or `a/b` are anchored at the root, `**` crosses directories, `[…]` and `?` as in globs.
/// `@FILE` reads patterns from a file (one per line, `#` comments).
public struct PathPatterns: Sendable {
    private struct Pattern: Sendable {
        let regex: NSRegularExpression
        let directoryOnly: Bool
        let anchored: Bool
    }

    private let patterns: [Pattern]

    public var isEmpty: Bool { patterns.isEmpty }

    public init(_ specs: [String]) throws {
        var lines: [String] = []
        for spec in specs {
            if spec.hasPrefix("@") {
                let path = String(spec.dropFirst())
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw StageFailure("cannot read the pattern file \(path)")
                }
                lines += text.split(whereSeparator: \.isNewline).map(String.init)
                    .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("#") }
            } else {
                lines.append(spec)
            }
        }
        patterns = try lines.map(Self.compile)
    }

    private static func compile(_ raw: String) throws -> Pattern {
        var text = raw.trimmingCharacters(in: .whitespaces)
        let directoryOnly = text.hasSuffix("/")
        if directoryOnly { text.removeLast() }
        let anchored = text.hasPrefix("/") || text.dropLast().contains("/")
        if text.hasPrefix("/") { text.removeFirst() }
        var regex = "^"
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            switch character {
            case "*":
                if index + 1 < characters.count && characters[index + 1] == "*" {
                    if index + 2 < characters.count && characters[index + 2] == "/" {
                        regex += "(?:.*/)?"
                        index += 3
                    } else {
                        regex += ".*"
                        index += 2
                    }
                    continue
                }
                regex += "[^/]*"
            case "?": regex += "[^/]"
            case "[":
                if let close = characters[(index + 1)...].firstIndex(of: "]") {
                    var set = String(characters[(index + 1)..<close])
                    if set.hasPrefix("!") { set = "^" + set.dropFirst() }
                    regex += "[" + set.replacingOccurrences(of: "\\", with: "\\\\") + "]"
                    index = close
                } else {
                    regex += "\\["
                }
            default:
                regex += NSRegularExpression.escapedPattern(for: String(character))
            }
            index += 1
        }
        regex += "$"
        do {
            return Pattern(regex: try NSRegularExpression(pattern: regex), directoryOnly: directoryOnly, anchored: anchored)
        } catch {
            throw StageFailure("invalid pattern `\(raw)`")
        }
    }

    /// Whether `path` (relative, `/`-separated) matches any pattern.
    public func matches(_ path: String, isDirectory: Bool) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        for pattern in patterns where !pattern.directoryOnly || isDirectory {
            let subject = pattern.anchored ? path : name
            let range = NSRange(subject.startIndex..., in: subject)
            if pattern.regex.firstMatch(in: subject, range: range) != nil { return true }
        }
        return false
    }
}
