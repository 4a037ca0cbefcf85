import Foundation
import Pipeline

/// Runs a program, streaming its stdout to a sink and keeping the tail of its stderr for error messages.
/// Blocking: call it on the blocking pool. The child is killed on cancellation or timeout.
enum ChildProcess {
    struct Outcome {
        let status: Int32
        let stderr: String
        let timedOut: Bool
    }

    /// What every child gets of polyarchiv's environment: where programs are, the locale and the time zone,
    /// who and where it is — never the variables behind other engines' secrets (`${env:…}`).
    static let baseEnvironment: [String: String] = {
        let inherited = ProcessInfo.processInfo.environment
        var environment = ["PATH": inherited["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        for name in ["HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM"] {
            if let value = inherited[name] { environment[name] = value }
        }
        return environment
    }()

    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = baseEnvironment,
                    directory: String? = nil, timeout: TimeInterval?, cancellation: CancellationFlag,
                    stdin: FileHandle? = nil, stdout sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Outcome {
        let process = Process()
        // Foundation starts the child as the leader of its own process group: signals go to the group, so
        // cancelling kills everything it started (a shell's children would otherwise keep the pipe open).
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = stdin ?? FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw StageFailure("cannot start \(executable): \(error.localizedDescription)")
        }
        let stderrBox = StderrTail()
        let stderrThread = Thread {
            let handle = errors.fileHandleForReading
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                stderrBox.append(data)
            }
        }
        stderrThread.start()
        let timedOut = TimeoutFlag()
        if let timeout {
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [weak process] in
                guard let process, process.isRunning else { return }
                timedOut.set()
                kill(-process.processIdentifier, SIGKILL)
            }
        }
        cancellation.onCancel { [weak process] in
            if let process, process.isRunning { kill(-process.processIdentifier, SIGTERM) }
        }
        let descriptor = output.fileHandleForReading.fileDescriptor
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        var sinkError: Error?
        while true {
            let count = read(descriptor, buffer.baseAddress, size)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            if sinkError == nil {
                do { try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) } catch {
                    sinkError = error
                    kill(-process.processIdentifier, SIGTERM)
                }
            }
        }
        process.waitUntilExit()
        stderrBox.waitForEnd(thread: stderrThread)
        if let sinkError { throw sinkError }
        try cancellation.check()
        return Outcome(status: process.terminationStatus, stderr: stderrBox.text, timedOut: timedOut.isSet)
    }

    private final class StderrTail: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func append(_ chunk: Data) {
            lock.lock()
            data.append(chunk)
            if data.count > 65_536 { data = data.suffix(32_768) }
            lock.unlock()
        }
        var text: String {
            lock.lock()
            defer { lock.unlock() }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func waitForEnd(thread: Thread) {
            while !thread.isFinished { usleep(1000) }
        }
    }

    private final class TimeoutFlag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() { lock.lock(); value = true; lock.unlock() }
        var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    }
}
