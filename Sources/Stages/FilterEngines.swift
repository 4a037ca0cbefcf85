enum FilterEngines {
    static let all: [EngineSpec] = [hashes, encrypt]

    static let hashes = EngineSpec("hashes", .filter,
                                   "Adds an index of file hashes that `sha256sum -c` (or its siblings) verifies.", implemented: true, parameters: [
        ParameterSpec("method", .choice(["sha256", "sha1", "sha512", "md5"]), default: "sha256", "Hash algorithm."),
        ParameterSpec("filename", .string, default: "SHA256SUMS", "Index file name (SHA1SUMS, SHA512SUMS, MD5SUMS by method)."),
    ])

    static let encrypt = EngineSpec("encrypt", .filter,
                                    "Encrypts every file in the age format, to X25519 recipients or with a passphrase.", implemented: true,
                                    parameters: [
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
}
