import ArgumentParser
import Foundation
import Pipeline
import Planner
import Stages

struct ImportIniCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-ini",
        abstract: "Convert an original PolyArchiv configuration directory (*.global, *.collect, *.backup) to YAML.",
        discussion: """
            Every parameter is converted or named in a warning (file:line). Secrets (passwords, API keys) go \
            to files of their own, mode 0600, under --secrets-dir, and the YAML references them. The result is \
            validated first: with -o, the YAML and the secret files are written only when it validates; without \
            -o, the YAML is printed and no secret file is written.

            Example:
              polyarchiv import-ini /etc/polyarchiv -o /etc/polyarchiv/polyarchiv.yaml
            """)

    @Argument(help: "The directory of the original configuration.")
    var directory: String

    @Option(name: .shortAndLong, help: "Write the YAML here (default: standard output).")
    var output: String?

    @Option(help: "Where secrets go (default: beside the output, NAME.secrets/; ./polyarchiv-secrets without -o).")
    var secretsDir: String?

    func run() throws {
        let secrets = secretsDir ?? output.map { (($0 as NSString).deletingPathExtension) + ".secrets" } ?? "polyarchiv-secrets"
        let absoluteSecrets = secrets.hasPrefix("/") ? secrets : FileManager.default.currentDirectoryPath + "/" + secrets
        let result: IniImporter.Result
        do {
            result = try IniImporter.convert(directory: directory, secretsDirectory: absoluteSecrets)
        } catch let error as ConfigError {
            Terminal.error(error.description)
            Terminal.error("polyarchiv: the original configuration has \(error.diagnostics.count) error(s); nothing was written")
            throw ExitCode(1)
        }
        for warning in result.warnings {
            Terminal.error(warning.description.replacingOccurrences(of: "error: ", with: "warning: "))
        }
        // The result must be a valid polyarchiv configuration.
        // Checked from a private directory of its own: a name in /tmp could have been planted as a link.
        let privateDirectory = try ScratchDirectory("polyarchiv-import")
        defer { privateDirectory.remove() }
        let check = privateDirectory.path + "/polyarchiv.yaml"
        try AtomicFile.write(check) { sink in try Data(result.yaml.utf8).withUnsafeBytes { try sink($0) } }
        do {
            _ = try Compiler.compile(try ConfigLoader.load(.file(check)))
        } catch let error as ConfigError {
            Terminal.error(error.description.replacingOccurrences(of: check, with: output ?? "<output>"))
            Terminal.error("polyarchiv: the converted configuration does not validate; fix the points above in the original "
                           + "or in the output")
            Terminal.error("polyarchiv: nothing was written" + (output.map { " (\($0) is unchanged)" } ?? ""))
            throw ExitCode(1)
        }
        if let output {
            do {
                try result.writeSecrets()
                // Written beside its final name and renamed (Foundation's atomic write leaves a directory in /tmp).
                try AtomicFile.write(output) { sink in try Data(result.yaml.utf8).withUnsafeBytes { try sink($0) } }
            } catch {
                Terminal.error("polyarchiv: \(error)")
                throw ExitCode(1)
            }
            Terminal.error("polyarchiv: wrote \(output)" + (result.secretFiles.isEmpty ? "" : " and \(result.secretFiles.count) secret file(s) in \(absoluteSecrets)"))
        } else {
            Terminal.print(result.yaml)
            if !result.secretFiles.isEmpty {
                Terminal.error("polyarchiv: a preview: the \(result.secretFiles.count) secret file(s) it references in \(absoluteSecrets) "
                               + "were not written (give -o FILE to write them with the configuration)")
            }
        }
    }
}
