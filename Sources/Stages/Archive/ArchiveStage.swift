import Foundation
import Pipeline

/// The `archive` stage: the tar of a collect point's tree, in the store, shared by every backup point
/// that wants this format and level.
public struct ArchiveStage: StageWork {
    public let version = "2"
    public let alwaysRuns = false
    public let request: ArchiveRequest
    /// The archive's name (`www.tar.zst`): what an encrypted copy's name grows from.
    public let name: String

    public init(_ request: ArchiveRequest, collectPoint: String) {
        self.request = request
        name = collectPoint + "." + request.format.rawValue
    }

    public var parameters: Parameters {
        var parameters = Parameters()
        parameters["format"] = .string(request.format.rawValue)
        if let level = request.level { parameters["compression_level"] = .int(level) }
        return parameters
    }

    public func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let tree = try TreeAssembler.assemble(context)
            let writer = try context.store.makeWriter()
            // The archive before it, a store object, checked against its digest (a corrupt one is deleted).
            let store = context.store
            let previous = FrameSource(FrameIndex.load(context.journal, stage: context.node.id)) { index in
                try store.ensureVerified(index.archive)
            }
            let frames = try TarWriter.write(tree, format: request.format, level: request.level, store: context.store,
                                             reuse: previous, cancellation: context.cancellation) {
                try writer.write($0)
                context.progress(writer.count)
            }
            let archive = try writer.finish(location: name)
            try FrameIndex(file: store.path(of: archive.digest), archive: archive.digest, frames: frames)
                .save(context.journal, stage: context.node.id)
            return [archive]
        }
    }
}
