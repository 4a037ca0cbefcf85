import Crypto
import _CryptoExtras
import Foundation
import Pipeline

/// Wrapping and unwrapping the file key for each kind of recipient.
enum AgeStanzas {
    static let x25519Label = Data("age-encryption.org/v1/X25519".utf8)
    static let scryptLabel = Data("age-encryption.org/v1/scrypt".utf8)
    /// The largest scrypt work factor accepted when decrypting (age's own limit): 2^22 × 1 KiB of memory.
    static let maximumWorkFactor = 22

    static func wrap(_ fileKey: SymmetricKey, for recipient: AgeRecipient) throws -> AgeHeader.Stanza {
        switch recipient {
        case .x25519(let publicKey):
            let ephemeral = Curve25519.KeyAgreement.PrivateKey()
            let share = ephemeral.publicKey.rawRepresentation
            let shared = try ephemeral.sharedSecretFromKeyAgreement(with: publicKey)
            let key = shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: share + publicKey.rawRepresentation,
                                                     sharedInfo: x25519Label, outputByteCount: 32)
            return .init(type: "X25519", arguments: [AgeHeader.base64(share)], body: try seal(fileKey, with: key))
        case .scrypt(let passphrase, let workFactor):
            let salt = Data((0..<16).map { _ in UInt8.random(in: 0...255) })
            let key = try scryptKey(passphrase, salt: salt, workFactor: workFactor)
            return .init(type: "scrypt", arguments: [AgeHeader.base64(salt), String(workFactor)], body: try seal(fileKey, with: key))
        }
    }

    /// The file key, when one of the identities opens one of the stanzas; nil when none does.
    static func unwrap(_ stanzas: [AgeHeader.Stanza], with identities: [AgeIdentity]) throws -> SymmetricKey? {
        if stanzas.contains(where: { $0.type == "scrypt" }) && stanzas.count != 1 {
            throw AgeHeader.Malformed(reason: "an scrypt stanza must be alone")
        }
        for identity in identities {
            for stanza in stanzas {
                switch (identity, stanza.type) {
                case (.x25519(let privateKey), "X25519"):
                    guard stanza.arguments.count == 1, let share = AgeHeader.unbase64(stanza.arguments[0]), share.count == 32,
                          stanza.body.count == 32 else { throw AgeHeader.Malformed(reason: "bad X25519 stanza") }
                    let ephemeral = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: share)
                    guard let shared = try? privateKey.sharedSecretFromKeyAgreement(with: ephemeral) else { continue }
                    let key = shared.hkdfDerivedSymmetricKey(using: SHA256.self,
                                                             salt: share + privateKey.publicKey.rawRepresentation,
                                                             sharedInfo: x25519Label, outputByteCount: 32)
                    if let fileKey = open(stanza.body, with: key) { return fileKey }
                case (.passphrase(let passphrase), "scrypt"):
                    guard stanza.arguments.count == 2, let salt = AgeHeader.unbase64(stanza.arguments[0]), salt.count == 16,
                          let workFactor = Int(stanza.arguments[1]), String(workFactor) == stanza.arguments[1],
                          stanza.body.count == 32 else { throw AgeHeader.Malformed(reason: "bad scrypt stanza") }
                    guard (1...maximumWorkFactor).contains(workFactor) else {
                        throw StageFailure("the file's scrypt work factor \(workFactor) is above \(maximumWorkFactor)")
                    }
                    if let fileKey = open(stanza.body, with: try scryptKey(passphrase, salt: salt, workFactor: workFactor)) {
                        return fileKey
                    }
                default:
                    continue
                }
            }
        }
        return nil
    }

    static func scryptKey(_ passphrase: String, salt: Data, workFactor: Int) throws -> SymmetricKey {
        try KDF.Scrypt.deriveKey(from: Data(passphrase.utf8), salt: scryptLabel + salt, outputByteCount: 32,
                                 rounds: 1 << workFactor, blockSize: 8, parallelism: 1)
    }

    /// ChaCha20-Poly1305 under a zero nonce: each wrapping key is used once.
    static func seal(_ fileKey: SymmetricKey, with key: SymmetricKey) throws -> Data {
        let box = try fileKey.withUnsafeBytes { try ChaChaPoly.seal(Data($0), using: key, nonce: zeroNonce) }
        return box.ciphertext + box.tag
    }

    static func open(_ body: Data, with key: SymmetricKey) -> SymmetricKey? {
        guard let box = try? ChaChaPoly.SealedBox(nonce: zeroNonce, ciphertext: body.prefix(16), tag: body.suffix(16)),
              let fileKey = try? ChaChaPoly.open(box, using: key) else { return nil }
        return SymmetricKey(data: fileKey)
    }

    static var zeroNonce: ChaChaPoly.Nonce { try! ChaChaPoly.Nonce(data: Data(count: 12)) }
}
