import Foundation
import Testing
import TestSupport

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

/// Creates `path` and mounts a tmpfs of `size` (`16m`) on it: another file system, for tests that need one.
/// False (recorded under CI, printed elsewhere) when it cannot be mounted. The caller unmounts it.
func mountTmpfs(at path: String, size: String) throws -> Bool {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    let mounted = try Sandbox.shell("mount -t tmpfs -o size=\(size) tmpfs '\(path)'")
    guard mounted.status == 0 else {
        if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("cannot mount a tmpfs: \(mounted.output)") }
        print("skipped: cannot mount a tmpfs (\(mounted.output))")
        return false
    }
    return true
}
