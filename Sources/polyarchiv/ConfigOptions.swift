import ArgumentParser
import Foundation
import Pipeline
import Planner

/// `-c FILE` or `-C DIR`; the default is every *.yaml in /etc/polyarchiv.
struct ConfigOptions: ParsableArguments {
    @Option(name: [.customShort("c"), .customLong("config")], help: "A configuration file.")
    var file: String?

    @Option(name: [.customShort("C"), .customLong("config-dir")],
            help: "A directory of *.yaml / *.yml configuration files (default: \(ConfigLocation.defaultDirectory)).")
    var directory: String?

    func validate() throws {
        if file != nil && directory != nil { throw ValidationError("use either -c FILE or -C DIR, not both") }
    }

    var location: ConfigLocation {
        if let file { return .file(file) }
        return .directory(directory ?? ConfigLocation.defaultDirectory)
    }

    /// The configuration's `state_dir:` for a command that needs no more of it (`gc`): read only when a
    /// configuration was named or the default directory exists.
    func configuredStateDirectory() throws -> String? {
        guard file != nil || directory != nil || FileManager.default.fileExists(atPath: ConfigLocation.defaultDirectory) else {
            return nil
        }
        return try Self.exitingOnConfigError { try ConfigLoader.load(location).stateDirectory?.path }
    }

    /// The one place secrets are revealed, with the environment polyarchiv started with.
    static let secrets = Secrets(environment: ProcessInfo.processInfo.environment)
    var secrets: Secrets { Self.secrets }

    /// Loads and compiles; on a configuration error prints every problem and exits 1.
    func compile() throws -> CompiledPipeline {
        try Self.exitingOnConfigError {
            let config = try ConfigLoader.load(location, deferringErrors: true)
            return try Compiler.compile(config, secrets: secrets)
        }
    }

    private static func exitingOnConfigError<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ConfigError {
            Terminal.error(error.description)
            Terminal.error("polyarchiv: the configuration has \(error.diagnostics.count) error(s); nothing was run")
            throw ExitCode(1)
        }
    }
}

enum Terminal {
    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }

    static func print(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
