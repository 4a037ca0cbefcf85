import Foundation

/// Work spread over dedicated threads (never the cooperative pool: the work blocks), its results taken
/// back in the order it was submitted. The submitter keeps at most `window` items in flight (`submit` hands
/// back the results that are due), so memory stays bounded however much work there is. Each item's work
/// runs wholly on one thread: C handles it creates stay there.
public final class OrderedWorkers<Input, Output>: @unchecked Sendable {
    public enum Job {
        case work(Input)
        /// Already done (a result copied from earlier): it only keeps its place in the order.
        case ready(Output)
    }

    private let condition = NSCondition()
    private let work: (Input) throws -> Output
    private let window: Int
    private var queue: [(Int, Input)] = []
    private var results: [Int: Result<Output, Error>] = [:]
    private var submitted = 0
    private var taken = 0
    private var stopping = false
    private var running: Int

    public init(threads: Int, window: Int? = nil, work: @escaping (Input) throws -> Output) {
        self.work = work
        let threads = max(1, threads)
        self.window = max(1, window ?? threads * 2)
        running = threads
        for index in 0..<threads {
            let thread = Thread { [self] in self.loop() }
            thread.name = "polyarchiv-worker-\(index)"
            thread.stackSize = 4 << 20
            thread.start()
        }
    }

    deinit {
        finish()
    }

    /// Queues a job; returns the results (in order) that must be taken to keep the window.
    public func submit(_ job: Job) throws -> [Output] {
        condition.lock()
        let index = submitted
        submitted += 1
        switch job {
        case .work(let input): queue.append((index, input))
        case .ready(let output): results[index] = .success(output)
        }
        condition.broadcast()
        condition.unlock()
        var due: [Output] = []
        while inFlight > window, let output = try next() { due.append(output) }
        return due
    }

    /// The remaining results, in order.
    public func drain() throws -> [Output] {
        var outputs: [Output] = []
        while let output = try next() { outputs.append(output) }
        return outputs
    }

    /// Stops the threads once the queued work is done (called by deinit too).
    public func finish() {
        condition.lock()
        stopping = true
        queue.removeAll()
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private var inFlight: Int {
        condition.lock()
        defer { condition.unlock() }
        return submitted - taken
    }

    /// The next result in order (waiting for it), nil when everything submitted was taken; rethrows the
    /// work's error.
    private func next() throws -> Output? {
        condition.lock()
        defer { condition.unlock() }
        guard taken < submitted else { return nil }
        while results[taken] == nil { condition.wait() }
        let result = results.removeValue(forKey: taken)!
        taken += 1
        return try result.get()
    }

    private func loop() {
        condition.lock()
        while true {
            while queue.isEmpty && !stopping { condition.wait() }
            if stopping && queue.isEmpty { break }
            let (index, input) = queue.removeFirst()
            condition.unlock()
            let result = Result { try work(input) }
            condition.lock()
            results[index] = result
            condition.broadcast()
        }
        running -= 1
        condition.broadcast()
        condition.unlock()
    }
}
