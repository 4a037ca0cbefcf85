import Foundation
import Pipeline

/// A program a source or a restore runs (pg_dump, mariadb-dump, slapcat, doveadm, rsync…): found on
/// PATH (a clear line when missing), optionally through `sudo -u USER`, with its stderr kept for errors.
struct ExternalTool {
    let name: String
    let path: String

    /// The first of `names` found on PATH.
    static func locate(_ names: [String], package: String) throws -> ExternalTool {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
            .split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        for name in names {
            if name.hasPrefix("/") {
                if access(name, X_OK) == 0 { return ExternalTool(name: (name as NSString).lastPathComponent, path: name) }
                continue
            }
            for directory in directories where access(directory + "/" + name, X_OK) == 0 {
                return ExternalTool(name: name, path: directory + "/" + name)
            }
        }
        throw StageFailure("\(names.joined(separator: " or ")) is not installed (not found on PATH); install \(package)")
    }

    /// The executable and arguments, through sudo when `sudoUser` is set (environment passed by `env`).
    func command(_ arguments: [String], environment: [String: String], sudoUser: String?) -> (String, [String], [String: String]) {
        var base = ChildProcess.baseEnvironment
        guard let sudoUser else {
            for (key, value) in environment { base[key] = value }
            return (path, arguments, base)
        }
        let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return ("/usr/bin/sudo", ["-n", "-u", sudoUser, "--", "/usr/bin/env"] + assignments + [path] + arguments, base)
    }

    /// Runs the tool; its stdout goes to `sink`. Fails with the tool's stderr when it fails or times out.
    func run(_ arguments: [String], environment: [String: String] = [:], sudoUser: String? = nil, directory: String? = nil,
             timeout: TimeInterval?, cancellation: CancellationFlag, stdin: FileHandle? = nil,
             stdout sink: (UnsafeRawBufferPointer) throws -> Void = { _ in }) throws {
        let (executable, fullArguments, fullEnvironment) = command(arguments, environment: environment, sudoUser: sudoUser)
        let outcome = try ChildProcess.run(executable, fullArguments, environment: fullEnvironment, directory: directory,
                                           timeout: timeout, cancellation: cancellation, stdin: stdin, stdout: sink)
        if outcome.timedOut {
            throw StageFailure("\(name) did not finish within \(TimeSpan.format(seconds: Int(timeout ?? 0))) and was killed", stderr: outcome.stderr)
        }
        guard outcome.status == 0 else {
            throw StageFailure("\(name) failed with exit status \(outcome.status)", stderr: outcome.stderr)
        }
    }

    /// Runs the tool and returns its stdout as text (small outputs: queries, listings).
    func output(_ arguments: [String], environment: [String: String] = [:], sudoUser: String? = nil, directory: String? = nil,
                timeout: TimeInterval? = 120, cancellation: CancellationFlag, stdin: FileHandle? = nil) throws -> String {
        var data = Data()
        try run(arguments, environment: environment, sudoUser: sudoUser, directory: directory, timeout: timeout,
                cancellation: cancellation, stdin: stdin) {
            data.append(contentsOf: $0)
            guard data.count < 16 << 20 else { throw StageFailure("\(name) printed more than 16 MiB") }
        }
        return String(decoding: data, as: UTF8.self)
    }
}

extension ExternalTool {
    /// A file opened for a tool's stdin: a tool run as another user (sudo) reads it through polyarchiv.
    static func input(_ path: String) throws -> FileHandle {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StageFailure("cannot read \(path)") }
        return handle
    }

    /// Text for a tool's stdin (an SQL query), through a pipe.
    static func input(text: String) throws -> FileHandle {
        let pipe = Pipe()
        let data = Data(text.utf8)
        guard data.count < 60_000 else { throw StageFailure("internal: text for stdin too long") }
        try pipe.fileHandleForWriting.write(contentsOf: data)  // fits the pipe's buffer
        try pipe.fileHandleForWriting.close()
        return pipe.fileHandleForReading
    }

    /// Database names are used in SQL and on command lines: plain ones only.
    static func checkName(_ name: String, what: String) throws {
        guard !name.isEmpty, !name.hasPrefix("-"), name.allSatisfy({ $0.isLetter || $0.isNumber || "_-$".contains($0) }) else {
            throw StageFailure("`\(name)` is not a \(what) polyarchiv can restore into: use letters, digits, `_`, `-` and `$`")
        }
    }
}
