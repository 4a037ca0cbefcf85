import Foundation
import Pipeline
import Stages

/// Fires the hooks subscribed to `before_restore`, `restore_success` and `restore_error` of one scope.
struct RestoreHooks {
    let pipeline: CompiledPipeline
    let cancellation: CancellationFlag
    let failed: (String) -> Void

    func fire(_ group: StageGroup, before: Bool, _ outcomes: [(label: String, error: String?)]) {
        let report = HookReport(restoreOf: outcomes, before: before)
        for hook in pipeline.restoreHooks where hook.group == group {
            do {
                try Hooks.fire(engine: hook.engine, parameters: hook.parameters, report: report, cancellation: cancellation)
            } catch {
                failed("\(hook.id) failed: \(error)")
            }
        }
    }
}
