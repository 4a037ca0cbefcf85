import Foundation
import Pipeline

/// `encrypt` filter: every file (or the archive, on a backup point) in the age format. Encryption is
/// random, so the ciphertext of each plaintext is remembered under the settings' fingerprint: unchanged
/// data keeps its ciphertext and nothing downstream runs again. Undone on restore with the identity (or
/// the passphrase), and refused before any plaintext when the key is wrong or the data was tampered with.
struct EncryptFilter: FilterEngine {
    static let spec = EngineSpec("encrypt", .filter,
                                 "Encrypts every file in the age format, to X25519 recipients or with a passphrase.", parameters: [
        ParameterSpec("recipients", .list, "age public keys (age1…): whoever holds these files cannot read them."),
        ParameterSpec("recipients_file", .path, "File with one age public key per line."),
        ParameterSpec("passphrase", .secret, "Passphrase (scrypt) instead of recipients."),
        ParameterSpec("passphrase_file", .path, "File whose first line is the passphrase."),
        ParameterSpec("identity_file", .path, "age identity file (AGE-SECRET-KEY-1…) used to decrypt when restoring."),
        ParameterSpec("suffix", .string, default: ".age", "Appended to encrypted file names; empty keeps the names."),
        ParameterSpec("work_factor", .int(10...22), default: "18",
                      "scrypt cost of a passphrase, log2(N): 18 (age's default) takes about 1 s and 256 MiB per file."),
    ], exclusive: [["passphrase", "passphrase_file"], ["passphrase", "recipients"], ["passphrase_file", "recipients"],
                   ["passphrase", "recipients_file"], ["passphrase_file", "recipients_file"]],
        oneOf: [["recipients", "recipients_file", "passphrase", "passphrase_file"]])

    static let ageMagic = Data("age-encryption.org/v1\n".utf8)

    let version = "1"
    let alwaysRuns = false
    /// The `recipients` keys, checked when the plan is made (parsed again when used: keys are not Sendable).
    let recipients: [String]
    let recipientsFile: String?
    let passphrase: Secret?
    let identityFile: String?
    let nameSuffix: String
    let workFactor: Int
    let hidesItsInput = true

    init(_ parameters: EngineParameters) throws {
        recipients = parameters.list("recipients")
        for key in recipients {
            do { _ = try AgeRecipient.parse(key, origin: "recipients") } catch { throw ConfigurationError("\(error)", parameter: "recipients") }
        }
        recipientsFile = parameters.string("recipients_file")
        passphrase = parameters.secret("passphrase")
        identityFile = parameters.string("identity_file")
        nameSuffix = parameters.string("suffix") ?? ".age"
        workFactor = parameters.int("work_factor") ?? 18
    }

    var summary: String {
        if passphrase != nil { return "encrypt with a passphrase" }
        return "encrypt to \(recipients.count + (recipientsFile == nil ? 0 : 1)) recipient(s)" + (recipientsFile.map { " and \($0)" } ?? "")
    }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let recipients = try allRecipients(context.secrets)
            let settings = try settingsKey(recipients, context.fingerprinter)
            let remembered = context.table("encrypt")
            func encrypted(_ entry: Tree.Entry) throws -> Artifact {
                guard let digest = entry.digest else { throw StageFailure("internal: a file without a digest") }
                if let known = try remembered.value(digest.hex, scope: settings).flatMap({ Digest(hex: String(decoding: $0, as: UTF8.self)) }),
                   let size = context.store.size(of: known) {
                    return Artifact(kind: .blob, digest: known, size: size)
                }
                let writer = try context.store.makeWriter()
                let encryptor = try AgeEncryptor(recipients: recipients) { try writer.write($0) }
                try context.store.read(entry) { chunk in
                    try context.cancellation.check()
                    try encryptor.write(chunk)
                }
                try encryptor.finish()
                let artifact = try writer.finish()
                try remembered.set(digest.hex, scope: settings, Data(artifact.digest.hex.utf8), keeps: [artifact.digest])
                context.progress(artifact.size)
                return artifact
            }
            // On a backup point after `archive`: the archive itself.
            let artifacts = context.artifacts
            if artifacts.count == 1, let blob = artifacts.first, blob.kind == .blob {
                let artifact = try encrypted(Tree.Entry(kind: .file, path: "", mode: 0, size: blob.size, mtime: 0, digest: blob.digest))
                return [Artifact(kind: .blob, digest: artifact.digest, size: artifact.size, location: blob.location.map { $0 + nameSuffix })]
            }
            let tree = try TreeAssembler.assemble(context)
            var entries: [Tree.Entry] = []
            for var entry in tree.entries {
                if entry.kind == .file, entry.digest != nil {
                    let artifact = try encrypted(entry)
                    entry.source = nil
                    entry.digest = artifact.digest
                    entry.size = artifact.size
                    entry.path += nameSuffix
                    entry.hardlink = entry.hardlink.map { $0 + nameSuffix }
                }
                entries.append(entry)
            }
            return [try context.store.put(Tree(entries: entries))]
        }
    }

    func allRecipients(_ secrets: Secrets) throws -> [AgeRecipient] {
        if let passphrase {
            let text = try secrets.reveal(passphrase)
            guard !text.isEmpty else { throw StageFailure("the encrypt passphrase is empty") }
            return [.scrypt(passphrase: text, workFactor: workFactor)]
        }
        let all = try recipients.map { try AgeRecipient.parse($0, origin: "recipients") }
            + (try recipientsFile.map { try AgeRecipient.parseFile($0) } ?? [])
        guard !all.isEmpty else { throw StageFailure("encrypt needs recipients or a passphrase") }
        return all
    }

    /// What the ciphertext depends on: the recipients (public), the passphrase (as a keyed fingerprint).
    func settingsKey(_ recipients: [AgeRecipient], _ fingerprinter: Fingerprinter) throws -> String {
        var text = "age-v1"
        for recipient in recipients {
            switch recipient {
            case .x25519(let key): text += "|x25519:" + key.rawRepresentation.base64EncodedString()
            case .scrypt(let passphrase, let workFactor): text += "|scrypt:\(workFactor):" + fingerprinter.fingerprint(passphrase)
            }
        }
        return Digest.of(text).hex
    }

    /// The identities that open what it wrote: `restore --identity` first, then `identity_file`, or the passphrase.
    func identities(_ context: RestoreContext) throws -> [AgeIdentity] {
        var identities: [AgeIdentity] = []
        if let given = context.identityFile { identities += try AgeIdentity.parseFile(given) }
        if let identityFile, context.identityFile == nil { identities += try AgeIdentity.parseFile(identityFile) }
        if let passphrase { identities.append(.passphrase(try context.secrets.reveal(passphrase))) }
        guard !identities.isEmpty else {
            throw StageFailure("the data is encrypted to age recipients: give the identity with `restore --identity FILE` "
                               + "or `identity_file` in the encrypt filter")
        }
        return identities
    }

    /// Encrypted to recipients whose identity is kept away from this host (as it should be): only the
    /// ciphertext can be checked here.
    func canUndo(_ context: RestoreContext) -> Bool { (try? identities(context)).map { !$0.isEmpty } ?? false }

    func undo(file: String, to output: String, _ context: RestoreContext) throws {
        try AgeFiles.decrypt(file, to: output, identities: try identities(context))
    }

    /// Every file it encrypted (its name ends with the suffix) back to its name, mode and mtime.
    func undo(directory: String, _ context: RestoreContext) throws -> String? {
        let identities = try identities(context)
        var encrypted: [String] = []
        var walk = DirectoryWalk(root: directory)
        try walk.walk(root: { _ in }, visit: { found in
            let type = found.info.st_mode & S_IFMT
            guard type == S_IFREG, found.relative.hasSuffix(nameSuffix) else { return type == S_IFDIR }
            // Without a suffix, only what is an age file (an index a later filter added is not).
            if nameSuffix.isEmpty && !Self.isAgeFile(found.absolute) { return false }
            encrypted.append(found.relative)
            return false
        }, problem: { _ in })
        // Shortest first: `x.age.age` becomes `x.age` only after `x.age` became `x`.
        encrypted.sort { ($0.count, $0) < ($1.count, $1) }
        for relative in encrypted {
            try context.cancellation.check()
            let path = directory + "/" + relative
            let clear = String(path.dropLast(nameSuffix.count))
            var info = stat()
            lstat(FileName.system(path), &info)
            try AgeFiles.decrypt(path, to: clear, identities: identities, mode: info.st_mode & 0o7777)
            if clear != path { unlink(FileName.system(path)) }
            var times = [info.st_atim, info.st_mtim]
            utimensat(AT_FDCWD, FileName.system(clear), &times, 0)
        }
        return nil
    }

    static func isAgeFile(_ path: String) -> Bool {
        let descriptor = open(FileName.system(path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var magic = [UInt8](repeating: 0, count: ageMagic.count)
        return read(descriptor, &magic, magic.count) == magic.count && Data(magic) == ageMagic
    }
}
