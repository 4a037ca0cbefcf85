import Foundation
import Pipeline

/// `encrypt` filter: every file (or the archive, on a backup point) in the age format. Encryption is
/// random, so the ciphertext of each plaintext is remembered under the settings' fingerprint: unchanged
/// data keeps its ciphertext and nothing downstream runs again.
struct EncryptFilter: StageRunner {
    let version = "1"
    let alwaysRuns = false

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        let suffix = parameters.string("suffix") ?? ".age"
        return try await context.blocking {
            let recipients = try Self.recipients(parameters)
            let settings = try Self.settingsKey(parameters, recipients: recipients, context: context)
            func encrypted(_ digest: Digest) throws -> Artifact {
                if let known = try context.journal.encryption(settings: settings, plaintext: digest),
                   let size = context.store.size(of: known) {
                    return Artifact(kind: .blob, digest: known, size: size)
                }
                let writer = try context.store.makeWriter()
                let encryptor = try AgeEncryptor(recipients: recipients) { try writer.write($0) }
                try context.store.read(digest) { chunk in
                    try context.cancellation.check()
                    try encryptor.write(chunk)
                }
                try encryptor.finish()
                let artifact = try writer.finish()
                try context.journal.recordEncryption(settings: settings, plaintext: digest, ciphertext: artifact.digest)
                context.progress(artifact.size)
                return artifact
            }
            // On a backup point after `archive`: the archive itself.
            if context.node.backupPoint != nil, context.inputs.count == 1, let input = context.inputs.first,
               input.artifacts.count == 1, let blob = input.artifacts.first, blob.kind == .blob {
                let artifact = try encrypted(blob.digest)
                return [Artifact(kind: .blob, digest: artifact.digest, size: artifact.size, location: blob.location.map { $0 + suffix })]
            }
            let tree = try TreeAssembler.assemble(context.inputs, store: context.store, journal: context.journal, date: context.date)
            var entries: [Tree.Entry] = []
            for var entry in tree.entries {
                if entry.kind == .file, let digest = entry.digest {
                    let artifact = try encrypted(digest)
                    entry.digest = artifact.digest
                    entry.size = artifact.size
                    entry.path += suffix
                    entry.hardlink = entry.hardlink.map { $0 + suffix }
                }
                entries.append(entry)
            }
            return [try context.store.put(Tree(entries: entries))]
        }
    }

    static func recipients(_ parameters: Parameters) throws -> [AgeRecipient] {
        if case .secret(let secret)? = parameters["passphrase"] {
            let passphrase = try secret.reveal()
            guard !passphrase.isEmpty else { throw StageFailure("the encrypt passphrase is empty") }
            var workFactor = 18
            if case .int(let value)? = parameters["work_factor"] { workFactor = value }
            return [.scrypt(passphrase: passphrase, workFactor: workFactor)]
        }
        var recipients: [AgeRecipient] = []
        if case .list(let keys)? = parameters["recipients"] {
            recipients += try keys.map { try AgeRecipient.parse($0, origin: "recipients") }
        }
        if let file = parameters.string("recipients_file") { recipients += try AgeRecipient.parseFile(file) }
        guard !recipients.isEmpty else { throw StageFailure("encrypt needs recipients or a passphrase") }
        return recipients
    }

    /// What the ciphertext depends on: the recipients (public), the passphrase (as a keyed fingerprint).
    static func settingsKey(_ parameters: Parameters, recipients: [AgeRecipient], context: StageContext) throws -> String {
        var text = "age-v1"
        for recipient in recipients {
            switch recipient {
            case .x25519(let key): text += "|x25519:" + key.rawRepresentation.base64EncodedString()
            case .scrypt(let passphrase, let workFactor):
                guard let fingerprinter = context.fingerprinter else { throw StageFailure("encrypt: no fingerprint key") }
                text += "|scrypt:\(workFactor):" + fingerprinter.fingerprint(passphrase)
            }
        }
        return Digest.of(text).hex
    }
}
