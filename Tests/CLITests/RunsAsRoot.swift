import Foundation
import Testing

/// Whether the test may do what only root can (`what`: "mounting a tmpfs", …). Under CI it must: a missing
/// root is recorded as a failure there; elsewhere the test is skipped with the reason printed.
func runsAsRoot(_ what: String) -> Bool {
    guard getuid() == 0 else {
        if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("\(what) needs root: run the tests as root") }
        print("skipped: \(what) needs root")
        return false
    }
    return true
}
