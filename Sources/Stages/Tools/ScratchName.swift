import Crypto
import Foundation
import Pipeline

/// Names of what a run makes for a moment outside its state directory — a drill's or a restore's scratch
/// database on a server, a password file in /tmp — that say which host and process made them. A run that
/// was killed cannot remove them; a later run on the same host removes those whose process is gone, and
/// never another host's or a live run's.
enum ScratchName {
    /// `polyarchiv_scratch_<host>_<pid>_<random>`: a database name (lower case, at most 63 bytes).
    static func database() -> String {
        databasePrefix + hostTag + "_\(getpid())_" + UUID().uuidString.prefix(6).lowercased()
    }

    static let databasePrefix = "polyarchiv_scratch_"

    /// Of these database names, the ones a process of this host made that no longer runs.
    static func leftoverDatabases(_ names: [String]) -> [String] {
        names.filter { name in
            let parts = name.split(separator: "_")
            guard name.hasPrefix(databasePrefix), parts.count == 5, parts[2] == Substring(hostTag), let pid = Int32(parts[3]) else {
                return false
            }
            return !isRunning(pid)
        }
    }

    /// `/tmp/polyarchiv-secret-<pid>-XXXXXX` directories this user made whose process no longer runs: each
    /// holds one password file of a tool's run, left by a run that was killed. Files inside are unlinked
    /// through the directory's descriptor (never followed), then the directory.
    static func removeLeftoverSecretDirectories(in parent: String = "/tmp") {
        for name in (try? DirectoryWalk.names(in: parent)) ?? [] where name.hasPrefix(secretPrefix) {
            let parts = name.dropFirst(secretPrefix.count).split(separator: "-")
            guard parts.count == 2, let pid = Int32(parts[0]), !isRunning(pid) else { continue }
            let descriptor = open(parent + "/" + name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            var info = stat()
            guard fstat(descriptor, &info) == 0, info.st_uid == geteuid() else { continue }
            for file in (try? DirectoryWalk.names(in: "/proc/self/fd/\(descriptor)")) ?? [] { unlinkat(descriptor, FileName.system(file), 0) }
            rmdir(parent + "/" + name)
        }
    }

    static let secretPrefix = "polyarchiv-secret-"

    /// Eight hex digits of the host name: two hosts sharing a database server keep apart.
    static let hostTag: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        let name = Data(buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) })
        return SHA256.hash(data: name).prefix(4).map { String(format: "%02x", $0) }.joined()
    }()

    /// Whether process `pid` of this host is a polyarchiv still running (a reused pid runs something else).
    static func isRunning(_ pid: Int32) -> Bool {
        if pid == getpid() { return true }
        guard pid > 0, let command = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return false }
        // The kernel keeps 15 bytes of the name: `polyarchiv`, or a build of it with a longer name.
        return command.hasPrefix("polyarchiv")
    }
}
