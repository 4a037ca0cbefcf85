import CLinux
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
        let stdinDescriptor = stdin?.fileDescriptor ?? open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if stdin == nil { close(stdinDescriptor) } }
        let output = try pipePair(), errors = try pipePair()
        let child: Child
        do {
            child = try Child.spawn(executable, arguments, environment: environment, directory: directory,
                                    descriptors: [stdinDescriptor, output.write, errors.write])
        } catch {
            [output.read, output.write, errors.read, errors.write].forEach { close($0) }
            throw error
        }
        close(output.write)
        close(errors.write)
        defer { close(output.read) }
        let stderrBox = StderrTail()
        let stderrThread = Thread {
            let handle = FileHandle(fileDescriptor: errors.read, closeOnDealloc: true)
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                stderrBox.append(data)
            }
        }
        stderrThread.start()
        let timedOut = TimeoutFlag()
        if let timeout {
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                if child.signal(SIGKILL) { timedOut.set() }
            }
        }
        cancellation.onCancel { _ = child.signal(SIGTERM) }
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        var sinkError: Error?
        while true {
            let count = read(output.read, buffer.baseAddress, size)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            if sinkError == nil {
                do { try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) } catch {
                    sinkError = error
                    _ = child.signal(SIGTERM)
                }
            }
        }
        let status = child.wait()
        stderrBox.waitForEnd(thread: stderrThread)
        if let sinkError { throw sinkError }
        try cancellation.check()
        return Outcome(status: status, stderr: stderrBox.text, timedOut: timedOut.isSet)
    }

    private static func pipePair() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [0, 0]
        guard pipe2(&ends, O_CLOEXEC) == 0 else { throw StageFailure("cannot make a pipe: \(String(cString: strerror(errno)))") }
        return (ends[0], ends[1])
    }

    /// A started child, leader of its own process group: signals go to the group, so cancelling stops
    /// everything it started (a shell's children would otherwise keep the pipe open). It is signalled only
    /// until it is reaped, so a recycled process group is never hit.
    private final class Child: @unchecked Sendable {
        let pid: pid_t
        private let lock = NSLock()
        private var reaped = false

        private init(pid: pid_t) { self.pid = pid }

        /// posix_spawn with `descriptors` as 0, 1 and 2 and no other descriptor of ours, an empty signal mask
        /// and every signal at its default: a child started from a thread that blocks signals (the
        /// dispatch and blocking-pool threads do) or from a shell that ignores SIGINT still stops when told.
        static func spawn(_ executable: String, _ arguments: [String], environment: [String: String], directory: String?,
                          descriptors: [Int32]) throws -> Child {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            for (target, descriptor) in descriptors.enumerated() {
                posix_spawn_file_actions_adddup2(&actions, descriptor, Int32(target))
            }
            posix_spawn_file_actions_addclosefrom_np(&actions, 3)
            if let directory { posix_spawn_file_actions_addchdir_np(&actions, directory) }
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var empty = sigset_t(), all = sigset_t()
            sigemptyset(&empty)
            sigfillset(&all)
            posix_spawnattr_setsigmask(&attributes, &empty)
            posix_spawnattr_setsigdefault(&attributes, &all)
            posix_spawnattr_setpgroup(&attributes, 0)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { (argv + envp).forEach { free($0) } }
            var pid: pid_t = 0
            let error = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            guard error == 0 else {
                let reason = error == ENOENT && directory.map({ access($0, F_OK) != 0 }) == true
                    ? "directory \(directory!) does not exist" : String(cString: strerror(error))
                throw StageFailure("cannot start \(executable): \(reason)")
            }
            return Child(pid: pid)
        }

        /// Signals the child's process group; false once it has been reaped.
        func signal(_ number: Int32) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            guard !reaped else { return false }
            kill(-pid, number)
            return true
        }

        /// Waits for it to end: its exit status, or 128 + the signal that ended it, as a shell reports it.
        func wait() -> Int32 {
            // Seen ended but left a zombie (WNOWAIT), so its pid cannot be reused while `reaped` is set; then reaped.
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
            lock.lock()
            reaped = true
            lock.unlock()
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            return signal == 0 ? (status >> 8) & 0xff : 128 + signal
        }
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
