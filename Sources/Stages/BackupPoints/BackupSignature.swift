import Crypto
import Foundation
import Pipeline

/// Signed backups: each entry a host writes in its metadata document is signed with the host's ed25519 key
/// (`polyarchiv keygen --signing`), over what says which backup it is: its place, SHA-256, size, date, host,
/// and its listing's SHA-256. A backup server that holds only encrypted backups could encrypt a forged archive
/// to the same public recipient and rewrite the document; it cannot sign the entry. `signed_by` names the
/// public keys a backup point's backups must be signed by: restore, verify, ls, find and diff refuse the rest.
public enum BackupSignature {
    static let publicPrefix = "polyarchiv-ed25519:"
    static let privatePrefix = "POLYARCHIV-SIGNING-KEY-"

    /// A new key: the file's text (private key, its public key in a comment) and the public key.
    public static func generate(date: Date = Date()) -> (file: String, publicKey: String) {
        let key = Curve25519.Signing.PrivateKey()
        let publicKey = publicText(key.publicKey)
        let file = "# polyarchiv signing key (ed25519), created \(ISO8601DateFormatter().string(from: date))\n"
            + "# public key: \(publicKey)\n" + privatePrefix + key.rawRepresentation.base64EncodedString() + "\n"
        return (file, publicKey)
    }

    static func publicText(_ key: Curve25519.Signing.PublicKey) -> String { publicPrefix + key.rawRepresentation.base64EncodedString() }

    static func parsePublic(_ text: String) -> Curve25519.Signing.PublicKey? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix(publicPrefix), let data = Data(base64Encoded: String(trimmed.dropFirst(publicPrefix.count))) else { return nil }
        return try? Curve25519.Signing.PublicKey(rawRepresentation: data)
    }

    /// The private key of a key file (a secret: read when a run signs, never stored elsewhere).
    static func loadPrivate(_ path: String) throws -> Curve25519.Signing.PrivateKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StageFailure("cannot read the signing key \(path): \(FileIO.lastError)")
        }
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(privatePrefix) }
        guard let line, let raw = Data(base64Encoded: String(line.dropFirst(privatePrefix.count)).trimmingCharacters(in: .whitespaces)),
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw StageFailure("\(path) holds no polyarchiv signing key (make one with `polyarchiv keygen --signing -o FILE`)")
        }
        return key
    }

    /// What is signed: every field that says which backup an entry is, in one fixed form.
    static func message(_ backup: BackupMetadata.Backup, backupPoint: String, collectPoint: String) -> Data {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        let fields = ["polyarchiv backup signature 1", backupPoint, collectPoint, backup.host, backup.location, backup.digest.hex,
                      String(backup.size), formatter.string(from: backup.created), backup.manifest ?? "", backup.manifestDigest?.hex ?? "",
                      backup.manifestSize.map(String.init) ?? ""]
        return Data(fields.joined(separator: "\n").utf8)
    }

    static func sign(_ backup: inout BackupMetadata.Backup, with key: Curve25519.Signing.PrivateKey, backupPoint: String, collectPoint: String) throws {
        backup.signature = try key.signature(for: message(backup, backupPoint: backupPoint, collectPoint: collectPoint)).base64EncodedString()
        backup.signedBy = publicText(key.publicKey)
    }

    /// Why the entry is not trusted (nil: signed by one of `trusted`).
    static func problem(_ backup: BackupMetadata.Backup, trusted: [Curve25519.Signing.PublicKey], backupPoint: String,
                        collectPoint: String) -> String? {
        guard let text = backup.signature, let signature = Data(base64Encoded: text) else {
            return "it is not signed, and signed_by asks for a signature"
        }
        let message = message(backup, backupPoint: backupPoint, collectPoint: collectPoint)
        guard trusted.contains(where: { $0.isValidSignature(signature, for: message) }) else {
            return "its signature does not verify against signed_by (a forged or altered entry of the metadata document)"
        }
        return nil
    }
}

/// A backup point's signing: the key it signs with, and the public keys its backups must be signed by.
struct SigningSettings: Sendable {
    let keyFile: String?
    let trusted: [String]

    static let parameters = [
        ParameterSpec("signing_key", .path, "This host's signing key (polyarchiv keygen --signing): each backup's entry is signed with it."),
        ParameterSpec("signed_by", .list,
                      "Public keys (polyarchiv-ed25519:…) the backups must be signed by: restore, verify, ls, find and diff refuse any other."),
    ]

    init?(_ parameters: EngineParameters) throws {
        let keyFile = parameters.string("signing_key")
        let trusted = parameters.list("signed_by")
        guard keyFile != nil || !trusted.isEmpty else { return nil }
        if let bad = trusted.first(where: { BackupSignature.parsePublic($0) == nil }) {
            throw ConfigurationError("signed_by: `\(bad)` is not a polyarchiv-ed25519: public key", parameter: "signed_by")
        }
        self.keyFile = keyFile
        self.trusted = trusted
    }

    /// The keys entries are checked against: `signed_by`, else the signing key's own public key.
    func trustedKeys() throws -> [Curve25519.Signing.PublicKey] {
        if !trusted.isEmpty { return trusted.compactMap(BackupSignature.parsePublic) }
        guard let keyFile else { return [] }
        return [try BackupSignature.loadPrivate(keyFile).publicKey]
    }
}
