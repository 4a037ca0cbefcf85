import Foundation

/// Hides what must never be printed: secrets (`***`) and passwords inside URLs (`user:***@host`).
public enum Redaction {
    /// `scheme://user:password@host/…` → `scheme://user:***@host/…`; other text is returned as it is.
    public static func maskingURLPassword(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://") else { return text }
        let authorityStart = schemeEnd.upperBound
        let authorityEnd = text[authorityStart...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? text.endIndex
        let authority = text[authorityStart..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return text }
        return String(text[..<text.index(after: colon)]) + Secret.mask + String(text[at...])
    }

    /// `scheme://user:password@host/…` → (`scheme://user@host/…`, the password, percent-decoded); a URL
    /// without a password comes back as it is.
    public static func splittingURLPassword(_ text: String) -> (url: String, password: String?) {
        guard let schemeEnd = text.range(of: "://") else { return (text, nil) }
        let authorityStart = schemeEnd.upperBound
        let authorityEnd = text[authorityStart...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? text.endIndex
        let authority = text[authorityStart..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return (text, nil) }
        let password = String(text[text.index(after: colon)..<at])
        return (String(text[..<colon]) + String(text[at...]), password.removingPercentEncoding ?? password)
    }
}

extension ParameterValue {
    /// The value as it may be shown to a person: secrets masked, URL passwords masked.
    public var displayText: String {
        switch self {
        case .string(let text): return Redaction.maskingURLPassword(text)
        case .list(let items): return "[" + items.map(Redaction.maskingURLPassword).joined(separator: ", ") + "]"
        case .map(let entries): return "{" + entries.map { "\($0.0): \($0.1.displayText)" }.joined(separator: ", ") + "}"
        default: return description
        }
    }
}
