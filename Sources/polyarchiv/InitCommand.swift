import ArgumentParser
import Foundation
import Pipeline
import Planner

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a commented starting configuration (never over an existing file).",
        discussion: """
            The file holds a working example (this host's /etc into a local collect point, one archive a day) \
            and, commented out, every engine with each of its parameters and their defaults. It is created \
            with mode 0600 (it will name password files); its directory is made if missing. An existing file \
            is never overwritten.

            Example:
              polyarchiv init /etc/polyarchiv/polyarchiv.yaml && polyarchiv validate
            """)

    @Argument(help: ArgumentHelp("The file to create (default: \(ConfigLocation.defaultDirectory)/polyarchiv.yaml).", valueName: "file"))
    var path: String = ConfigLocation.defaultDirectory + "/polyarchiv.yaml"

    func run() throws {
        let text = ConfigTemplate.text(version: Polyarchiv.version, root: geteuid() == 0, home: NSHomeDirectory())
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        try NewPrivateFile.write(text, to: path)
        Terminal.error("Wrote \(path). Next: polyarchiv validate -c \(path) && polyarchiv plan -c \(path)")
    }
}
