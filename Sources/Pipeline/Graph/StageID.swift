/// A stage's identity: its kind and a path of names (`dump:www/database`, `upload:offsite/www`). Built
/// from typed parts and never parsed back: whoever needs to know what a stage is about asks its work or
/// the planner's record of it, not the text.
public struct StageID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let kind: StageKind
    public let path: [String]

    public init(_ kind: StageKind, _ path: [String]) {
        self.kind = kind
        self.path = path
    }

    public init(_ kind: StageKind, _ path: String...) {
        self.init(kind, path)
    }

    /// The stable text form, as the journal, plans and graphs show it.
    public var description: String { kind.rawValue + ":" + path.joined(separator: "/") }

    public static func < (lhs: StageID, rhs: StageID) -> Bool { lhs.description < rhs.description }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let colon = text.firstIndex(of: ":"), let kind = StageKind(rawValue: String(text[..<colon])) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a stage id: \(text)"))
        }
        self.init(kind, text[text.index(after: colon)...].split(separator: "/", omittingEmptySubsequences: false).map(String.init))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
