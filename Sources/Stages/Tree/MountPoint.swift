import Foundation
import Pipeline

extension InPlace {
    /// A source that is a mount point (a fresh volume at `/srv/www`, the usual disaster layout) cannot be
    /// renamed aside: it is filled where it is. What it holds moves into `.polyarchiv-before-restore-DATE`
    /// inside it (the same file system: renames, nothing copied or deleted), then the restored entries move
    /// in (copied first into a private directory on the mount when they come from another file system), and
    /// the mount point takes the restored directory's mode, owner and times. A failure on the way moves
    /// everything back.
    enum MountPoint {
        static func fill(_ target: String, from restored: String, stamp: String) throws -> String {
            let live = open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard live >= 0 else { throw StageFailure("cannot open \(target): \(FileIO.lastError) (nothing was changed)") }
            defer { close(live) }
            // The restored tree on the mount's own file system.
            var incoming = open(restored, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard incoming >= 0 else { throw StageFailure("cannot open \(restored): \(FileIO.lastError) (nothing was changed)") }
            defer { close(incoming) }
            var holder: Holder?
            defer { holder?.remove() }
            var restoredInfo = stat(), liveInfo = stat()
            fstat(incoming, &restoredInfo)
            fstat(live, &liveInfo)
            if restoredInfo.st_dev != liveInfo.st_dev {
                let made = try Holder(in: target, for: "")
                holder = made
                guard try copyTree(restored, into: made) else {
                    throw StageFailure("cannot copy the restored data into \(target) (out of space?); nothing was changed at \(target)")
                }
                let copy = openat(made.descriptor, Holder.copyName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard copy >= 0 else { throw StageFailure("cannot open the copy in \(made.path): \(FileIO.lastError); nothing was changed") }
                close(incoming)
                incoming = copy
                fstat(incoming, &restoredInfo)
            }
            let asideName = ".polyarchiv-before-restore-" + stamp
            guard mkdirat(live, asideName, 0o700) == 0 else {
                throw StageFailure("cannot create \(target)/\(asideName): \(FileIO.lastError) (nothing was changed)")
            }
            let aside = openat(live, asideName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard aside >= 0 else { throw StageFailure("cannot open \(target)/\(asideName): \(FileIO.lastError) (nothing was changed)") }
            defer { close(aside) }
            let holderName = holder.map { ($0.path as NSString).lastPathComponent }
            var movedAside: [String] = []
            var movedIn: [String] = []
            func undo() {
                for name in movedIn.reversed() { renameat(live, name, incoming, name) }
                for name in movedAside.reversed() { renameat(aside, name, live, name) }
                unlinkat(live, asideName, AT_REMOVEDIR)
            }
            do {
                for name in try names(live) where name != asideName && name != holderName {
                    guard renameat(live, name, aside, name) == 0 else {
                        throw StageFailure("cannot move \(target)/\(name) aside: \(FileIO.lastError)")
                    }
                    movedAside.append(name)
                }
                for name in try names(incoming) {
                    guard renameat(incoming, name, live, name) == 0 else {
                        throw StageFailure("cannot move the restored \(name) into \(target): \(FileIO.lastError)")
                    }
                    movedIn.append(name)
                }
            } catch let failure as StageFailure {
                undo()
                throw StageFailure("\(failure.message); \(target) is as it was (it is a mount point, filled in place)")
            }
            // The mount point takes the restored directory's own mode, owner and times.
            fchmod(live, restoredInfo.st_mode & 0o7777)
            if geteuid() == 0 { fchown(live, restoredInfo.st_uid, restoredInfo.st_gid) }
            var times = [restoredInfo.st_atim, restoredInfo.st_mtim]
            futimens(live, &times)
            if movedAside.isEmpty { unlinkat(live, asideName, AT_REMOVEDIR) }
            if holder == nil { try? FileManager.default.removeItem(atPath: restored) }
            return "put back \(target) (a mount point: filled where it is)"
                + (movedAside.isEmpty ? "" : "; what was there is now in \(target)/\(asideName)")
        }

        /// Whether `path` is a directory on another file system than its parent's.
        static func holds(_ path: String) -> Bool {
            var own = stat(), parent = stat()
            return lstat(path, &own) == 0 && own.st_mode & S_IFMT == S_IFDIR
                && stat((path as NSString).deletingLastPathComponent, &parent) == 0 && own.st_dev != parent.st_dev
        }

        /// The names in a directory held open, as that descriptor sees them.
        static func names(_ directory: Int32) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/\(getpid())/fd/\(directory)").sorted()
        }
    }
}
