import Foundation
import Pipeline

/// Where each frame of an archive is (offset and length), by the key that names its content: what the next
/// archive of the same stage copies instead of compressing again. Kept in the journal's `archive.frames`
/// namespace under the stage's id. It names the archive's digest: copied frames are trusted only once the
/// whole earlier archive was checked against it (on a thread of its own, while the new one is written), and
/// a damaged archive forgets its index.
struct FrameIndex: Codable, Sendable {
    struct Frame: Codable, Sendable {
        let offset: Int64
        let length: Int64
    }

    /// The file the frames are in (a store object, a collect point's archive) and its digest.
    var file: String
    var archive: Digest
    var frames: [String: Frame]

    static let namespace = "archive.frames"

    static func load(_ journal: Journal, stage: StageID) -> FrameIndex? {
        try? journal.table(namespace).decoded(FrameIndex.self, stage.description)
    }

    func save(_ journal: Journal, stage: StageID) throws {
        try journal.table(Self.namespace).encode(self, stage.description, keeps: [archive])
    }
}

/// The frames of an earlier archive, read back by position. `check` hashes the whole file against the
/// index's digest; the writer runs it once it copies a frame, and fails (and makes everything again in the
/// next pass) when it does not match.
final class FrameSource: @unchecked Sendable {
    private let index: FrameIndex
    private let descriptor: Int32
    let check: @Sendable () throws -> Void

    init?(_ index: FrameIndex?, check: @escaping @Sendable (FrameIndex) throws -> Void) {
        guard let index else { return nil }
        descriptor = open(index.file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        self.index = index
        self.check = { try check(index) }
    }

    deinit { close(descriptor) }

    func has(_ key: String) -> Bool { index.frames[key] != nil }

    /// The frame's bytes, nil when the file is shorter than the index says. Thread-safe (positional reads).
    func frame(_ key: String) -> [UInt8]? {
        guard let frame = index.frames[key], frame.length > 0, frame.length < 1 << 30 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(frame.length))
        let read = bytes.withUnsafeMutableBytes { buffer -> Bool in
            var done = 0
            while done < buffer.count {
                let count = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(frame.offset) + off_t(done))
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { return false }
                done += count
            }
            return true
        }
        return read ? bytes : nil
    }
}
