import Foundation
import Pipeline

/// Where each frame of an archive is (offset, length, SHA-256 of its compressed bytes), by the key that
/// names its content: what the next archive of the same stage copies instead of compressing again. Kept in
/// the journal's `archive.frames` namespace under the stage's id; it names the archive it describes, so a
/// damaged archive forgets its index.
struct FrameIndex: Codable, Sendable {
    struct Frame: Codable, Sendable {
        let offset: Int64
        let length: Int64
        let digest: Digest
    }

    /// The file the frames are in (a store object, a collect point's archive), and its digest when it is a
    /// store object (kept alive by the index).
    var file: String
    var archive: Digest?
    var frames: [String: Frame]

    static let namespace = "archive.frames"

    static func load(_ journal: Journal, stage: StageID) -> FrameIndex? {
        try? journal.table(namespace).decoded(FrameIndex.self, stage.description)
    }

    func save(_ journal: Journal, stage: StageID) throws {
        try journal.table(Self.namespace).encode(self, stage.description, keeps: archive.map { [$0] } ?? [])
    }
}

/// The frames of an earlier archive, read back and checked against their digests; a frame that is gone
/// or does not match is simply compressed again.
final class FrameSource: @unchecked Sendable {
    private let index: FrameIndex
    private let descriptor: Int32

    init?(_ index: FrameIndex?) {
        guard let index else { return nil }
        descriptor = open(index.file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        self.index = index
    }

    deinit { close(descriptor) }

    func has(_ key: String) -> Bool { index.frames[key] != nil }

    /// Thread-safe (positional reads of one descriptor).
    func frame(_ key: String) -> (bytes: [UInt8], digest: Digest)? {
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
        guard read else { return nil }
        var hash = StreamingHash()
        bytes.withUnsafeBytes { hash.update($0) }
        return hash.finalize() == frame.digest ? (bytes, frame.digest) : nil
    }
}
