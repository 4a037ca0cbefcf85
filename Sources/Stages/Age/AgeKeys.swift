import Crypto
import Foundation
import Pipeline

/// Whom an age file is encrypted to: X25519 public keys (`age1…`), or a passphrase (scrypt), alone.
enum AgeRecipient {
    case x25519(Curve25519.KeyAgreement.PublicKey)
    case scrypt(passphrase: String, workFactor: Int)

    /// `age1…` → a recipient; anything else is an error naming the line.
    static func parse(_ text: String, origin: String) throws -> AgeRecipient {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let (hrp, data) = Bech32.decode(trimmed), hrp == "age", data.count == 32,
              let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: data) else {
            throw StageFailure("\(origin): `\(trimmed.prefix(80))` is not an age X25519 recipient (age1…)")
        }
        return .x25519(key)
    }

    /// Recipients of a file: one `age1…` per line; blank lines and `#` comments skipped.
    static func parseFile(_ path: String) throws -> [AgeRecipient] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw StageFailure("cannot read the recipients file \(path)")
        }
        var recipients: [AgeRecipient] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            recipients.append(try parse(trimmed, origin: "\(path):\(number + 1)"))
        }
        guard !recipients.isEmpty else { throw StageFailure("the recipients file \(path) holds no age1… key") }
        return recipients
    }
}

/// What can open an age file: X25519 secret keys (`AGE-SECRET-KEY-1…`) or a passphrase.
public enum AgeIdentity {
    case x25519(Curve25519.KeyAgreement.PrivateKey)
    case passphrase(String)

    /// The identities of an identity file (as `age-keygen` writes it).
    static func parseFile(_ path: String) throws -> [AgeIdentity] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw StageFailure("cannot read the identity file \(path)")
        }
        var identities: [AgeIdentity] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let (hrp, data) = Bech32.decode(trimmed), hrp == "age-secret-key-", data.count == 32,
                  let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: data) else {
                throw StageFailure("\(path):\(number + 1): not an age identity (AGE-SECRET-KEY-1…)")
            }
            identities.append(.x25519(key))
        }
        guard !identities.isEmpty else { throw StageFailure("the identity file \(path) holds no AGE-SECRET-KEY-1… line") }
        return identities
    }

    /// A new identity in `age-keygen`'s format, and its recipient.
    public static func generate() -> (identity: String, recipient: String) {
        let key = Curve25519.KeyAgreement.PrivateKey()
        return (Bech32.encode(hrp: "age-secret-key-", Array(key.rawRepresentation)).uppercased(),
                Bech32.encode(hrp: "age", Array(key.publicKey.rawRepresentation)))
    }
}
