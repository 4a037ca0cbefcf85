import Foundation
import Testing
@testable import Pipeline

/// The journal forgets old stage history, never a node's latest success.
@Suite struct JournalHistoryTests {
    @Test func historyBeyondTheLastRunsIsForgottenButLatestSuccessesStay() throws {
        let path = NSTemporaryDirectory() + "pa-journal-\(UUID().uuidString).sqlite"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let journal = try Journal(path: path)
        let blob = Artifact(kind: .blob, digest: Digest.of("x"), size: 1)
        var lastRun: Int64 = 0
        for index in 0..<12 {
            lastRun = try journal.startRun(command: "apply", at: Date())
            // `rare` succeeded only in the first run; `often` in every run; `broken` fails each time.
            if index == 0 { try journal.recordExecution(run: lastRun, node: "rare", key: "k", state: "succeeded", outputs: [blob], error: nil, at: Date()) }
            try journal.recordExecution(run: lastRun, node: "often", key: "k\(index)", state: "succeeded", outputs: [blob], error: nil, at: Date())
            try journal.recordExecution(run: lastRun, node: "broken", key: nil, state: "failed", outputs: [], error: "no", at: Date())
            try journal.finishRun(lastRun, status: "succeeded", at: Date())
        }
        let forgotten = try journal.pruneHistory(keepRuns: 5)
        #expect(forgotten == 7 + 7, "7 old runs lose their `often` and `broken` rows; `rare` stays")
        #expect(try journal.lastOutputs(node: "rare") == [blob])
        #expect(try journal.executions().count == 1 + 5 + 5)
        #expect(try journal.executions(run: lastRun).count == 2)
    }
}
