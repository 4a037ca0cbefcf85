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
            for directory in directories where access(directory + "/" + name, X_OK) == 0 {
                return ExternalTool(name: name, path: directory + "/" + name)
            }
        }
        throw StageFailure("\(names.joined(separator: " or ")) is not installed (not found on PATH); install \(package)")
    }

    /// The executable and arguments, through sudo when `sudoUser` is set (environment passed by `env`).
    func command(_ arguments: [String], environment: [String: String], sudoUser: String?) -> (String, [String], [String: String]) {
        var base = ProcessInfo.processInfo.environment
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
            throw StageFailure("\(name) did not finish within \(Duration.format(Int(timeout ?? 0))) and was killed", stderr: outcome.stderr)
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

extension Parameters {
    /// A source's `timeout` in seconds.
    var timeout: TimeInterval? {
        if case .int(let seconds)? = self["timeout"] { return TimeInterval(seconds) }
        return nil
    }

    /// The revealed value of a secret parameter.
    func secretValue(_ name: String) throws -> String? {
        if case .secret(let secret)? = self[name] { return try secret.reveal() }
        return nil
    }
}
