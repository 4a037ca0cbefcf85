import Foundation
import Pipeline

/// SIGINT and SIGTERM cancel the run. A C handler only writes a byte to a pipe (all a signal handler
/// may do); a thread reads it and cancels. Handlers, unlike SIG_IGN, are reset in child processes.
enum SignalWatcher {
    nonisolated(unsafe) private static var writeEnd: Int32 = -1
    nonisolated(unsafe) private(set) static var received: Int32 = 0

    static func install(cancelling flag: CancellationFlag) {
        var descriptors: [Int32] = [0, 0]
        guard pipe(&descriptors) == 0 else { return }
        writeEnd = descriptors[1]
        let readEnd = descriptors[0]
        let handler: @convention(c) (Int32) -> Void = { signal in
            SignalWatcher.received = signal
            var byte: UInt8 = 1
            _ = write(SignalWatcher.writeEnd, &byte, 1)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        let thread = Thread {
            var byte: UInt8 = 0
            while read(readEnd, &byte, 1) < 0 && errno == EINTR {}
            flag.cancel()
        }
        thread.start()
    }
}
