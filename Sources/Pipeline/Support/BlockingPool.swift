import Foundation

/// A fixed set of threads for blocking work (C libraries, file I/O, child processes), so it never
/// occupies Swift's cooperative pool, which has one thread per core.
public final class BlockingPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var threads: [Thread] = []
    private var stopping = false

    public init(threads count: Int) {
        for index in 0..<max(1, count) {
            let thread = Thread { [self] in self.work() }
            thread.name = "polyarchiv-blocking-\(index)"
            thread.stackSize = 4 << 20
            threads.append(thread)
            thread.start()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// Lets the threads finish the queued jobs and exit; the pool takes no work afterwards.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func submit(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` on one of the pool's threads and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}

/// Set when the run is cancelled; blocking loops check it between chunks.
public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var handlers: [() -> Void] = []

    public init() {}

    public var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    public func cancel() {
        lock.lock()
        let wasCancelled = cancelled
        cancelled = true
        let toCall = handlers
        handlers = []
        lock.unlock()
        if !wasCancelled { toCall.forEach { $0() } }
    }

    /// Calls `handler` on cancellation (at once when already cancelled).
    public func onCancel(_ handler: @escaping () -> Void) {
        lock.lock()
        if cancelled {
            lock.unlock()
            handler()
            return
        }
        handlers.append(handler)
        lock.unlock()
    }

    public struct Cancelled: Error, CustomStringConvertible {
        public init() {}
        public var description: String { "interrupted" }
    }

    public func check() throws {
        if isCancelled { throw Cancelled() }
    }
}
