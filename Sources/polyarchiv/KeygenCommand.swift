import ArgumentParser
import Foundation
import Pipeline
import Stages

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Print a new age identity and its recipient, for the encrypt filter.",
        discussion: """
            The identity (AGE-SECRET-KEY-1…) goes to standard output in age-keygen's format, with its recipient \\
            (age1…) in a comment; the recipient goes to standard error too. Put the recipient in the encrypt \\
            filter's `recipients`; keep the identity somewhere other than the host being backed up (a password \\
            manager, a safe), since whoever holds it can read every backup, and without it nobody can.

            With -o FILE the identity is written to a new file of mode 0600 instead (an existing file is never \
            overwritten).

            With --signing it makes a signing key instead (ed25519): give its file as a backup point's \
            `signing_key` on this host, and its public key (polyarchiv-ed25519:…, printed on standard error) as \
            `signed_by` wherever backups are restored, so a forged backup is refused.

            Example:
              polyarchiv keygen -o /root/backup-identity.txt
              polyarchiv keygen --signing -o /etc/polyarchiv/signing.key
            """)

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the identity to this new file (mode 0600) instead of standard output.",
                                                    valueName: "file"))
    var output: String?

    @Flag(help: "Make a signing key (ed25519) for signed backups instead of an age identity.")
    var signing = false

    func run() throws {
        if signing {
            let (file, publicKey) = BackupSignature.generate()
            if let output {
                try NewPrivateFile.write(file, to: output)
                Terminal.error("The signing key is in \(output) (mode 0600): give it as signing_key.")
            } else {
                Terminal.print(file)
            }
            Terminal.error("Public key: \(publicKey)")
            Terminal.error("Give the public key as signed_by where the backups are restored and verified.")
            return
        }
        let (identity, recipient) = AgeIdentity.generate()
        let created = ISO8601DateFormatter().string(from: Date())
        let text = "# created: \(created)\n# public key: \(recipient)\n\(identity)\n"
        if let output {
            try NewPrivateFile.write(text, to: output)
            Terminal.error("The identity is in \(output) (mode 0600).")
        } else {
            Terminal.print(text)
        }
        Terminal.error("Public key: \(recipient)")
        Terminal.error("Keep the identity somewhere other than this host: it opens every backup encrypted to this key.")
    }
}
