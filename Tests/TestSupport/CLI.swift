import Foundation

/// The real `polyarchiv` binary, run as a user would.
public enum CLI {
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    public static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["POLYARCHIV_BIN"] { return URL(fileURLWithPath: path) }
        // The test bundle sits beside the executable in the build directory.
        let candidates = [Bundle.main.bundleURL.deletingLastPathComponent(), Bundle.main.bundleURL,
                          repository.appendingPathComponent(".build/debug")]
        for directory in candidates {
            let url = directory.appendingPathComponent("polyarchiv")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return repository.appendingPathComponent(".build/debug/polyarchiv")
    }

    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    public static func run(_ arguments: [String], input: Data? = nil, environment: [String: String]? = nil,
                           directory: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe(), inputPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : inputPipe
        try process.run()
        if let input {
            inputPipe.fileHandleForWriting.write(input)
            try? inputPipe.fileHandleForWriting.close()
        }
        // Read both pipes before waiting, so a large output cannot block the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// `--json` listings: one object per line.
    public static func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw CommandFailed(description: "not a JSON object: \(line)")
            }
            return object
        }
    }

    public static func pipeline(_ name: String) -> String { repository.appendingPathComponent("pipelines/\(name)").path }

    /// Runs a shell command and returns its status and output (stdout and stderr together).
    @discardableResult
    public static func shell(_ command: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A new age identity from `polyarchiv keygen`: the identity file's text and its recipient.
    public static func ageKeys() throws -> (identity: String, recipient: String) {
        let keys = try run(["keygen"])
        guard let line = keys.stdout.split(separator: "\n").first(where: { $0.hasPrefix("# public key: ") }) else {
            throw CommandFailed(description: "polyarchiv keygen printed no public key: \(keys.stdout)\(keys.stderr)")
        }
        return (keys.stdout, String(line.dropFirst("# public key: ".count)))
    }

    public struct CommandFailed: Error, CustomStringConvertible {
        public let description: String
    }

    /// A shell command that must succeed: its output (stdout and stderr), or an error naming it.
    public static func succeed(_ command: String) throws -> String {
        let (status, output) = try shell(command)
        guard status == 0 else { throw CommandFailed(description: "`\(command)` exited \(status): \(output)") }
        return output
    }
}
