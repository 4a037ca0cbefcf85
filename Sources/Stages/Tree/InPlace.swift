import Foundation
import Pipeline

/// A restored directory put at its own path: what is there is first renamed to
/// `PATH.polyarchiv-before-restore-DATE` (nothing is deleted), then the restored tree takes its place, by
/// a rename, or copied beside it and renamed when whole (another file system).
///
/// The target's parent may belong to another user (a web root's owner), who can rename, replace or plant
/// names in it at any moment. So every step goes through descriptors: the parent is opened once and the
/// renames are relative to it; a copy goes into a fresh 0700 directory (`mkdtemp`) that only root can change,
/// reached by the child through the descriptor we hold, never by a name; and what lands at the target must
/// be the very directory that was made.
enum InPlace {
    static func put(_ restored: String, at path: String, date: Date) throws -> String {
        let stamp = PutBackRequest.asideStamp(date)
        let target = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        let parentPath = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        try FileManager.default.createDirectory(atPath: parentPath, withIntermediateDirectories: true)
        let parent = open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { throw StageFailure("cannot open \(parentPath): \(FileIO.lastError) (nothing was changed)") }
        defer { close(parent) }
        if MountPoint.holds(target) { return try MountPoint.fill(target, from: restored, stamp: stamp) }
        // Copied beside the target first when it cannot be renamed there: the live data moves aside only once
        // the restored copy is whole at the target's side.
        var incoming = (directory: AT_FDCWD, name: restored)
        var holder: Holder?
        if !sameFileSystem(restored, parent) {
            let made = try Holder(in: parentPath, for: name)
            holder = made
            guard try copyTree(restored, into: made) else {
                made.remove()
                throw StageFailure("cannot copy the restored data beside \(target) (out of space?); nothing was changed at \(target)")
            }
            incoming = (made.descriptor, Holder.copyName)
        }
        defer { holder?.remove() }
        var arriving = stat()
        guard fstatat(incoming.directory, incoming.name, &arriving, AT_SYMLINK_NOFOLLOW) == 0, arriving.st_mode & S_IFMT == S_IFDIR else {
            throw StageFailure("the restored data for \(target) is not a directory any more; nothing was changed at \(target)")
        }
        var aside: String?
        var info = stat()
        if fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 {
            let asideName = name + ".polyarchiv-before-restore-" + stamp
            guard renameat(parent, name, parent, asideName) == 0 else {
                // A mount point (a fresh volume at /srv/www) cannot be renamed: it is filled where it is.
                if errno == EBUSY, info.st_mode & S_IFMT == S_IFDIR {
                    holder?.remove()
                    holder = nil
                    return try MountPoint.fill(target, from: restored, stamp: stamp)
                }
                throw StageFailure("cannot move \(target) aside to put the backup in its place: \(FileIO.lastError) (nothing was changed)")
            }
            aside = parentPath + "/" + asideName
        }
        guard renameat(incoming.directory, incoming.name, parent, name) == 0 else {
            let reason = FileIO.lastError
            let back = aside.map { renameat(parent, ($0 as NSString).lastPathComponent, parent, name) == 0 } ?? true
            throw StageFailure("cannot put the restored data at \(target): \(reason); "
                               + (back ? "the live data is back in place" : "the live data is at \(aside!)"))
        }
        // What holds the live path now must be what was restored (not something swapped in on the way).
        var landed = stat()
        guard fstatat(parent, name, &landed, AT_SYMLINK_NOFOLLOW) == 0, landed.st_dev == arriving.st_dev, landed.st_ino == arriving.st_ino else {
            throw StageFailure("\(target) was replaced by something else while the backup was put there; check it by hand"
                               + (aside.map { " (what was there before is at \($0))" } ?? ""))
        }
        if holder != nil { try? FileManager.default.removeItem(atPath: restored) }
        return "put back \(target)" + (aside.map { "; what was there is now \($0)" } ?? "")
    }

    static func sameFileSystem(_ a: String, _ directory: Int32) -> Bool {
        var first = stat(), second = stat()
        return stat(a, &first) == 0 && fstat(directory, &second) == 0 && first.st_dev == second.st_dev
    }

    /// A fresh 0700 directory made by root beside the target, held open: nobody else can change what is in
    /// it, and the copy reaches it through the descriptor, whatever happens to its name.
    final class Holder {
        static let copyName = "restored"
        var removed = false
        let path: String
        let descriptor: Int32

        init(in parent: String, for name: String) throws {
            path = try ScratchDirectory(name + ".polyarchiv-restoring", in: parent).path
            descriptor = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            var info = stat()
            guard descriptor >= 0, fstat(descriptor, &info) == 0, info.st_uid == geteuid(), info.st_mode & 0o7777 == 0o700 else {
                if descriptor >= 0 { close(descriptor) }
                throw StageFailure("\(path) was replaced as soon as it was made; nothing was changed")
            }
        }

        /// The directory as the child sees it: the descriptor this process holds, not a name.
        var reachable: String { "/proc/\(getpid())/fd/\(descriptor)" }

        /// What is left in it, and itself (only while its name is still this directory).
        func remove() {
            guard !removed else { return }
            removed = true
            try? FileManager.default.removeItem(atPath: reachable + "/" + Self.copyName)
            var named = stat(), held = stat()
            if lstat(path, &named) == 0, fstat(descriptor, &held) == 0, named.st_dev == held.st_dev, named.st_ino == held.st_ino {
                rmdir(path)
            }
            close(descriptor)
        }
    }

    /// `cp -a` of a tree that cannot be renamed across file systems, run inside the holder.
    static func copyTree(_ source: String, into holder: Holder) throws -> Bool {
        let outcome = try ChildProcess.run("/bin/cp", ["-a", "--", source + "/.", Holder.copyName], directory: holder.reachable,
                                           timeout: nil, cancellation: CancellationFlag()) { _ in }
        return outcome.status == 0
    }
}
