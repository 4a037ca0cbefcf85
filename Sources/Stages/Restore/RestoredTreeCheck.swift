import Foundation
import Pipeline

/// What a restore may create: polyarchiv only ever backs up files, directories and symbolic links, so a
/// backup holding a device node, a FIFO or a socket was not made by it (a tampered backup point). Those are
/// refused, and setuid/setgid bits are cleared unless the user asked to keep them.
public enum RestoredTreeCheck {
    /// The name of a kind of entry polyarchiv never writes, or nil for a file, a directory or a link.
    static func forbiddenKind(_ type: mode_t) -> String? {
        switch type {
        case S_IFREG, S_IFDIR, S_IFLNK: return nil
        case S_IFCHR: return "character device"
        case S_IFBLK: return "block device"
        case S_IFIFO: return "FIFO"
        case S_IFSOCK: return "socket"
        default: return "special file"
        }
    }

    /// The permission bits a restored entry gets: setuid and setgid are dropped from files unless kept. A
    /// directory keeps its setgid bit (shared group folders: new files take the folder's group), which grants
    /// no privilege.
    static func permissions(_ mode: mode_t, isDirectory: Bool, keepSpecialBits: Bool) -> mode_t {
        keepSpecialBits ? mode & 0o7777 : mode & (isDirectory ? 0o3777 : 0o1777)
    }

    /// The refusal for the entries found (where one is enough to distrust the whole backup: `verify`).
    static func refusal(_ found: [String]) -> StageFailure {
        StageFailure("the backup holds entries polyarchiv never writes: " + found.joined(separator: ", ")
                     + "; the backup point may have been tampered with")
    }

    /// A refused entry, named for a terminal.
    static func refused(_ path: String, _ kind: String) -> String {
        "\(TerminalText.escaped(path)) (\(kind))"
    }

    /// Walks a restored tree (before any filter reads it, before it takes its final name) relative to
    /// directory descriptors: removes what may not be there and returns one line for each, clears setuid and
    /// setgid bits from files.
    public static func check(_ root: String, keepSpecialBits: Bool) -> [String] {
        var found: [String] = []
        var walk = DirectoryWalk(root: root)
        do {
            try walk.walk(root: { _ in }, visit: { entry in
                let type = entry.info.st_mode & S_IFMT
                let name = FileName.system(entry.name)
                if let kind = forbiddenKind(type) {
                    found.append(refused(entry.relative, kind))
                    unlinkat(entry.directory, name, 0)
                    return false
                }
                let wanted = permissions(entry.info.st_mode, isDirectory: type == S_IFDIR, keepSpecialBits: keepSpecialBits)
                if type != S_IFLNK, wanted != entry.info.st_mode & 0o7777 { fchmodat(entry.directory, name, wanted, 0) }
                return type == S_IFDIR
            }, problem: { found.append("\($0.shown) (\($0.reason))") })
        } catch {
            found.append("\(TerminalText.escaped(root)) (\(error))")
        }
        return found.sorted()
    }
}
