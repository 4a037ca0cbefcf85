import Foundation

/// An RFC 5322 text message: headers folded into one line each (no header injection), a UTF-8 body
/// sent as is when it is plain short-lined ASCII and in base64 otherwise, lines ending in CRLF.
struct MailMessage {
    var from: String
    var to: [String]
    var subject: String
    var body: String
    var date = Date()

    /// `Name <a@b>` → `a@b`; a bare address as is.
    static func address(_ mailbox: String) -> String {
        if let open = mailbox.lastIndex(of: "<"), let close = mailbox.lastIndex(of: ">"), open < close {
            return String(mailbox[mailbox.index(after: open)..<close]).trimmingCharacters(in: .whitespaces)
        }
        return mailbox.trimmingCharacters(in: .whitespaces)
    }

    var text: String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let plain = body.allSatisfy { $0.isASCII } && !body.split(separator: "\n").contains { $0.utf8.count > 900 }
        var lines = [
            "Date: " + formatter.string(from: date),
            "From: " + Self.headerValue(from),
            "To: " + to.map(Self.headerValue).joined(separator: ", "),
            "Subject: " + Self.encodedWord(Self.headerValue(subject)),
            "Message-ID: <\(UUID().uuidString.lowercased())@\(Self.domain(of: from))>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: " + (plain ? "7bit" : "base64"),
            "",
        ]
        if plain {
            lines += body.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        } else {
            let encoded = Data(body.utf8).base64EncodedString()
            lines += stride(from: 0, to: encoded.count, by: 76).map {
                let start = encoded.index(encoded.startIndex, offsetBy: $0)
                return String(encoded[start..<(encoded.index(start, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex)])
            }
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// A header value on one line: a newline in a template must not start a new header.
    static func headerValue(_ value: String) -> String {
        value.components(separatedBy: .newlines).joined(separator: " ")
    }

    /// RFC 2047 for a subject that is not ASCII.
    static func encodedWord(_ value: String) -> String {
        value.allSatisfy(\.isASCII) ? value : "=?UTF-8?B?" + Data(value.utf8).base64EncodedString() + "?="
    }

    static func domain(of mailbox: String) -> String {
        address(mailbox).split(separator: "@").last.map(String.init) ?? "localhost"
    }
}
