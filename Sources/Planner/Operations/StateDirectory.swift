import Foundation
import Pipeline

/// The state directory: the journal, the store, the lock and the fingerprint key.
public struct StateDirectory: Sendable {
    public let url: URL

    /// `--state-dir`, else `POLYARCHIV_STATE_DIR`, else the configuration's `state_dir:`, else the default.
    public init(_ path: String?, configured: String? = nil) {
        let environment = ProcessInfo.processInfo.environment["POLYARCHIV_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        url = URL(fileURLWithPath: path ?? environment ?? configured ?? Self.defaultPath)
    }

    /// The one a compiled configuration runs with.
    public init(_ path: String?, for pipeline: CompiledPipeline) {
        self.init(path, configured: pipeline.stateDirectory)
    }

    /// `/var/lib/polyarchiv` as root, else `$XDG_STATE_HOME/polyarchiv` (or `~/.local/state/polyarchiv`).
    public static var defaultPath: String {
        if geteuid() == 0 { return "/var/lib/polyarchiv" }
        let environment = ProcessInfo.processInfo.environment
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + "/polyarchiv" }
        return NSHomeDirectory() + "/.local/state/polyarchiv"
    }

    public var journalPath: String { url.appendingPathComponent("journal.sqlite").path }
    public var storeURL: URL { url.appendingPathComponent("store") }
    var keyPath: String { url.appendingPathComponent("fingerprint.key").path }

    public var exists: Bool { FileManager.default.fileExists(atPath: journalPath) }

    public func create() throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw StageFailure("cannot create the state directory \(url.path): \(error.localizedDescription); "
                               + "pass --state-dir or run as a user who can write there")
        }
        // One that already existed keeps no wider mode: the journal names every source's files and errors.
        // (Through a descriptor; a link configured as the state directory, to a larger disk, is followed.)
        let descriptor = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StageFailure("cannot open the state directory \(url.path): \(FileIO.lastError)") }
        defer { close(descriptor) }
        var info = stat()
        if fstat(descriptor, &info) == 0, info.st_uid == geteuid(), info.st_mode & 0o077 != 0 {
            fchmod(descriptor, 0o700)
        }
    }

    /// Opens the journal read-only when it exists (for plan and check): nothing is written.
    public func readOnlyJournal() -> Journal? {
        guard exists else { return nil }
        return try? Journal(path: journalPath, readOnly: true)
    }

    /// The fingerprint key when it exists (read only, for plan).
    func existingFingerprinter() -> Fingerprinter? {
        guard let data = FileManager.default.contents(atPath: keyPath), data.count == 32 else { return nil }
        return Fingerprinter(keyData: data)
    }

    /// The secret key that turns secrets into cache-key fingerprints; made once, readable by its owner only.
    func fingerprinter() throws -> Fingerprinter {
        if let data = FileManager.default.contents(atPath: keyPath), data.count == 32 {
            return Fingerprinter(keyData: data)
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let data = Data(bytes)
        let temporary = keyPath + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]),
              rename(temporary, keyPath) == 0 else {
            throw StageFailure("cannot write \(keyPath)")
        }
        return Fingerprinter(keyData: data)
    }
}
