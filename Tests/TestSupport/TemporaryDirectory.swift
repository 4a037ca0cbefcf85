import Foundation

/// A directory of its own under the system's temporary directory, removed with everything in it when the
/// value goes away — when the test ends, whether it passed or failed.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(_ prefix: String = "pa-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func path(_ relative: String) -> String { url.appendingPathComponent(relative).path }

    deinit { Self.remove(url.path) }

    /// Removes a tree whatever its modes (a 0555 directory, files owned by a test server's user).
    public static func remove(_ path: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "chmod -R u+rwX \"$1\" 2>/dev/null; rm -rf \"$1\"", "sh", path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
        process.waitUntilExit()
    }
}
