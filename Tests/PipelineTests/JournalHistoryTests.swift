import Foundation
import Testing
import TestSupport
@testable import Pipeline

/// The journal forgets old stage history, never a node's latest success.
@Suite struct JournalHistoryTests {
    @Test func historyBeyondTheLastRunsIsForgottenButLatestSuccessesStay() throws {
        let scratch = try TemporaryDirectory("pa-journal")
        let path = scratch.path("journal.sqlite")
        let journal = try Journal(path: path)
        let blob = Artifact(kind: .blob, digest: Digest.of("x"), size: 1)
        var lastRun: Int64 = 0
        for index in 0..<12 {
            lastRun = try journal.startRun(command: "apply", at: Date())
            // `rare` succeeded only in the first run; `often` in every run; `broken` fails each time.
            if index == 0 { try journal.recordExecution(run: lastRun, node: StageID(.dump, "rare"), key: "k", state: "succeeded", outputs: [blob], error: nil, at: Date()) }
            try journal.recordExecution(run: lastRun, node: StageID(.dump, "often"), key: "k\(index)", state: "succeeded", outputs: [blob], error: nil, at: Date())
            try journal.recordExecution(run: lastRun, node: StageID(.dump, "broken"), key: nil, state: "failed", outputs: [], error: "no", at: Date())
            try journal.finishRun(lastRun, status: "succeeded", at: Date())
        }
        let forgotten = try journal.pruneHistory(keepRuns: 5)
        #expect(forgotten == 7 + 7, "7 old runs lose their `often` and `broken` rows; `rare` stays")
        #expect(try journal.lastOutputs(node: StageID(.dump, "rare")) == [blob])
        #expect(try journal.executions().count == 1 + 5 + 5)
        #expect(try journal.executions(run: lastRun).count == 2)
    }
}
