import Foundation

/// Hides what must never be printed: secrets (`***`) and passwords inside URLs (`user:***@host`).
public enum Redaction {
    /// `scheme://user:password@host/…` → `scheme://user:***@host/…`; other text is returned as it is.
    private static func maskingURLPassword(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://") else { return text }
        let authorityStart = schemeEnd.upperBound
        let authorityEnd = text[authorityStart...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? text.endIndex
        let authority = text[authorityStart..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return text }
        return String(text[..<text.index(after: colon)]) + Secret.mask + String(text[at...])
    }

    /// A URL as it may be shown: its password and the values of its query (`?token=…`, `?api_key=…`) masked.
    /// Text that is not a URL, or a URL in a longer text (a command), is masked the same way.
    public static func maskingURLSecrets(_ text: String) -> String {
        let masked = maskingURLPassword(text)
        guard let scheme = masked.range(of: "://"), let query = masked[scheme.upperBound...].firstIndex(of: "?") else { return masked }
        var result = String(masked[...query])
        var inValue = false
        for character in masked[masked.index(after: query)...] {
            switch character {
            case "=" where !inValue:
                result.append("=")
                result += Secret.mask
                inValue = true
            case "&", "#", " ", "\"", "'":
                inValue = false
                result.append(character)
            default:
                if !inValue { result.append(character) }
            }
        }
        return result
    }

    /// Whether a header or environment variable of this name holds a credential (`Authorization`,
    /// `X-Api-Key`, `API_TOKEN`, `PGPASSWORD`…): its value is never shown.
    public static func isSensitiveName(_ name: String) -> Bool {
        let lower = name.lowercased()
        return ["auth", "token", "key", "secret", "pass", "pwd", "cookie", "credential", "session", "signature"].contains { lower.contains($0) }
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
        case .string(let text): return Redaction.maskingURLSecrets(text)
        case .list(let items): return "[" + items.map(Redaction.maskingURLSecrets).joined(separator: ", ") + "]"
        case .map(let entries):
            return "{" + entries.map { "\($0.0): \(Redaction.isSensitiveName($0.0) ? Secret.mask : $0.1.displayText)" }.joined(separator: ", ") + "}"
        default: return description
        }
    }
}
