import Foundation

/// Watches every process's command line and environment (/proc) while a test runs, to prove that a
/// secret never appears there, and which programs it saw (so the test knows it watched the right moment).
public final class ProcessWatcher: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private var seen = Set<String>()
    private var leaks: [String] = []
    private let secrets: [String]
    private var thread: Thread?

    public init(secrets: [String]) {
        self.secrets = secrets.filter { !$0.isEmpty }
        let thread = Thread { [self] in
            while isRunning { scan() }
        }
        self.thread = thread
        thread.start()
    }

    private var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return running }

    private func scan() {
        guard let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        for pid in pids where pid.allSatisfy(\.isNumber) {
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !cmdline.isEmpty else { continue }
            let words = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ").map { String(decoding: $0, as: UTF8.self) } ?? ""
            let program = (words.first.map { ($0 as NSString).lastPathComponent }) ?? ""
            lock.lock()
            seen.insert(program)
            for secret in secrets {
                if words.contains(where: { $0.contains(secret) }) { leaks.append("\(program) \(pid) command line") }
                if environment.contains(secret) && !program.hasPrefix("python") && program != "swiftpm-testing-helper"
                    && !program.contains("xctest") && !program.contains("PackageTests") {
                    leaks.append("\(program) \(pid) environment")
                }
            }
            lock.unlock()
        }
    }

    /// Stops watching; returns the programs seen and where a secret leaked.
    public func stop() -> (seen: Set<String>, leaks: [String]) {
        lock.lock()
        running = false
        lock.unlock()
        while thread?.isFinished == false { usleep(1000) }
        lock.lock()
        defer { lock.unlock() }
        return (seen, leaks)
    }
}
