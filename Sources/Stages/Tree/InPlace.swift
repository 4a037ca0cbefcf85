import Foundation
import Pipeline

/// A restored directory put at its own path: what is there is first renamed to
/// `PATH.polyarchiv-before-restore-DATE` (nothing is deleted), then the restored tree takes its place, by
/// a rename, or copied beside it under a temporary name and renamed when whole (another file system).
enum InPlace {
    static func put(_ restored: String, at path: String, date: Date) throws -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let stamp = formatter.string(from: date)
        let target = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        // Copied beside the target first when it cannot be renamed there: the live data moves aside only once
        // the restored copy is whole at the target's side.
        var incoming = restored
        if !sameFileSystem(restored, (target as NSString).deletingLastPathComponent) {
            incoming = target + ".polyarchiv-restoring-" + stamp
            guard try copyTree(restored, to: incoming) else {
                try? FileManager.default.removeItem(atPath: incoming)
                throw StageFailure("cannot copy the restored data to \(incoming) (out of space?); nothing was changed at \(target)")
            }
        }
        var aside: String?
        var info = stat()
        if lstat(target, &info) == 0 {
            aside = target + ".polyarchiv-before-restore-" + stamp
            guard rename(target, aside!) == 0 else {
                throw StageFailure("cannot move \(target) aside to put the backup in its place: \(FileIO.lastError) (nothing was changed)")
            }
        }
        guard rename(incoming, target) == 0 else {
            let reason = FileIO.lastError
            let back = aside.map { rename($0, target) == 0 } ?? true
            throw StageFailure("cannot put the restored data at \(target): \(reason); "
                               + (back ? "the live data is back in place" : "the live data is at \(aside!)"))
        }
        if incoming != restored { try? FileManager.default.removeItem(atPath: restored) }
        return "put back \(target)" + (aside.map { "; what was there is now \($0)" } ?? "")
    }

    static func sameFileSystem(_ a: String, _ b: String) -> Bool {
        var first = stat(), second = stat()
        return stat(a, &first) == 0 && stat(b, &second) == 0 && first.st_dev == second.st_dev
    }

    /// `cp -a` of a tree that cannot be renamed across file systems.
    static func copyTree(_ source: String, to target: String) throws -> Bool {
        let outcome = try ChildProcess.run("/bin/cp", ["-a", "--", source, target], timeout: nil, cancellation: CancellationFlag()) { _ in }
        return outcome.status == 0
    }
}
