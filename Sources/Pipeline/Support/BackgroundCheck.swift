import Foundation

/// Blocking work on a thread of its own while the caller goes on; `wait` gives its outcome.
public final class BackgroundCheck: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var outcome: Result<Void, Error> = .success(())

    public init(_ work: @escaping @Sendable () throws -> Void) {
        let thread = Thread { [self] in
            outcome = Result { try work() }
            done.signal()
        }
        thread.name = "polyarchiv-check"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Waits for the work and rethrows its error.
    public func wait() throws {
        done.wait()
        done.signal()
        try outcome.get()
    }
}
