import Crypto
import Foundation
import Pipeline

/// The age v1 header (https://age-encryption.org/v1): a version line, one stanza per recipient that
/// wraps the 16-byte file key, and an HMAC of it all under a key derived from the file key.
struct AgeHeader {
    static let version = "age-encryption.org/v1"
    /// A header larger than this is not an age file (or is hostile).
    static let maximumSize = 1 << 20

    struct Stanza {
        var type: String
        var arguments: [String]
        var body: Data
    }

    var stanzas: [Stanza]
    var mac = Data()

    /// Everything up to and including `---`: what the MAC covers.
    var macInput: String {
        var text = Self.version + "\n"
        for stanza in stanzas {
            text += (["->", stanza.type] + stanza.arguments).joined(separator: " ") + "\n"
            let encoded = Self.base64(stanza.body)
            // Lines of 64 columns; the last one shorter, so an exact multiple ends with an empty line.
            var index = encoded.startIndex
            while true {
                let end = encoded.index(index, offsetBy: 64, limitedBy: encoded.endIndex) ?? encoded.endIndex
                text += encoded[index..<end] + "\n"
                if encoded.distance(from: index, to: end) < 64 { break }
                index = end
            }
        }
        return text + "---"
    }

    var encoded: Data { Data((macInput + " " + Self.base64(mac) + "\n").utf8) }

    static func macKey(_ fileKey: SymmetricKey) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: fileKey, salt: Data(), info: Data("header".utf8), outputByteCount: 32)
    }

    mutating func seal(_ fileKey: SymmetricKey) {
        mac = Data(HMAC<SHA256>.authenticationCode(for: Data(macInput.utf8), using: Self.macKey(fileKey)))
    }

    func verify(_ fileKey: SymmetricKey) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(macInput.utf8), using: Self.macKey(fileKey))
    }

    // MARK: - Parsing

    struct Malformed: Error, CustomStringConvertible {
        let reason: String
        var description: String { "not a valid age file: \(reason)" }
    }

    /// Parses the header's text (up to and including the `--- MAC` line, without its newline).
    init(parsing text: String) throws {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        guard lines.popFirst() == Self.version else { throw Malformed(reason: "it does not start with \(Self.version)") }
        stanzas = []
        while let line = lines.popFirst() {
            if line.hasPrefix("--- ") {
                guard lines.isEmpty, let mac = Self.unbase64(String(line.dropFirst(4))), mac.count == 32 else {
                    throw Malformed(reason: "bad MAC line")
                }
                self.mac = mac
                return
            }
            let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 2, fields[0] == "->", !fields.dropFirst().contains(where: \.isEmpty) else {
                throw Malformed(reason: "bad stanza line `\(line.prefix(60))`")
            }
            var body = ""
            while true {
                guard let bodyLine = lines.popFirst(), bodyLine.count <= 64 else { throw Malformed(reason: "bad stanza body") }
                body += bodyLine
                if bodyLine.count < 64 { break }
            }
            guard let decoded = Self.unbase64(body) else { throw Malformed(reason: "stanza body is not base64") }
            stanzas.append(Stanza(type: fields[1], arguments: Array(fields.dropFirst(2)), body: decoded))
        }
        throw Malformed(reason: "the header has no MAC line")
    }

    init(stanzas: [Stanza]) { self.stanzas = stanzas }

    // MARK: - Base64 without padding, as age writes it

    static func base64(_ data: Data) -> String {
        var text = data.base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    /// Strict: no padding, no line breaks, canonical (re-encoding gives the same text).
    static func unbase64(_ text: String) -> Data? {
        guard !text.contains("="), text.utf8.allSatisfy({ $0 < 128 }) else { return nil }
        let padded = text + String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: padded), base64(data) == text else { return nil }
        return data
    }
}
