import Foundation

/// A new private (0700) directory made by `mkdtemp`: a name nobody could have planted beforehand, so what is
/// written in it cannot be steered by another user of a shared directory such as /tmp.
public struct ScratchDirectory: Sendable {
    public let path: String

    /// `PARENT/PREFIX-XXXXXX`, in the temporary directory unless `parent` is given.
    public init(_ prefix: String, in parent: String? = nil) throws {
        let base = parent ?? NSTemporaryDirectory()
        var template = Array(((base.hasSuffix("/") ? base : base + "/") + prefix + "-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw StageFailure("cannot create a private directory in \(base): \(FileIO.lastError)")
        }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}
