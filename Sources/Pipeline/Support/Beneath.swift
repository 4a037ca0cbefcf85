import Foundation

/// Opening what lies under a directory whose contents someone else may have shaped (a restored tree, a
/// directory another user can write): one component at a time relative to a directory descriptor, never
/// following a link, never blocking on a FIFO, and only what has the expected type.
public enum Beneath {
    /// Opens the regular file `relative` (a `/`-separated path with no `..`) under `root`, for reading. Every
    /// directory on the way and the file itself are opened with `O_NOFOLLOW`: a link anywhere is refused.
    /// Returns its descriptor, which the caller closes.
    public static func openRegularFile(_ relative: String, in root: String) throws -> Int32 {
        let components = relative.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let last = components.last, !components.contains(".."), !components.contains(".") else {
            throw StageFailure("`\(relative)` is not a path inside \(root)")
        }
        var directory = open(FileName.system(root), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw StageFailure("cannot open \(root): \(FileIO.lastError)") }
        defer { close(directory) }
        for component in components.dropLast() {
            let next = openat(directory, FileName.system(component), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else { throw refusal(relative, component: component, root: root) }
            close(directory)
            directory = next
        }
        let descriptor = openat(directory, FileName.system(last), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard descriptor >= 0 else { throw refusal(relative, component: last, root: root) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw StageFailure("\(relative) in \(root) is not a regular file; refused")
        }
        return descriptor
    }

    /// What `relative` under `root` is (its file type), when every component of it, the last included, is
    /// reached without a link; nil when one is missing or a link.
    public static func kind(of relative: String, in root: String) -> mode_t? {
        var path = root
        var type: mode_t = S_IFDIR
        for component in relative.split(separator: "/", omittingEmptySubsequences: true) {
            guard component != "..", component != "." else { return nil }
            path += "/" + component
            var info = stat()
            guard lstat(FileName.system(path), &info) == 0, info.st_mode & S_IFMT != S_IFLNK else { return nil }
            type = info.st_mode & S_IFMT
        }
        return type
    }

    private static func refusal(_ relative: String, component: String, root: String) -> StageFailure {
        let reason = errno == ELOOP || errno == ENOTDIR ? "a link or not a directory on the way" : FileIO.lastError
        return StageFailure("cannot open \(relative) in \(root): \(reason); refused")
    }

    /// Reads the descriptor to its end in chunks, checking for cancellation before each one.
    public static func read(_ descriptor: Int32, what: String, cancellation: CancellationFlag,
                            _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            try cancellation.check()
            let count = Glibc.read(descriptor, buffer.baseAddress, size)
            if count < 0 {
                if errno == EINTR { continue }
                throw StageFailure("cannot read \(what): \(FileIO.lastError)")
            }
            if count == 0 { return }
            try consume(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }
}
