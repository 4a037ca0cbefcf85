import Foundation
import Pipeline

/// `files` collect point: the collected tree, materialised at its path.
struct FilesCollectPoint: StageRunner {
    let version = "1"
    let alwaysRuns = false

    func run(_ context: StageContext) async throws -> [Artifact] {
        guard let path = context.node.parameters.string("path") else { throw StageFailure("collect point without a path") }
        return try await context.blocking {
            let tree = try TreeAssembler.assemble(context.inputs, store: context.store, journal: context.journal, date: context.date)
            try TreeMaterializer.materialize(tree, at: path, store: context.store, cancellation: context.cancellation,
                                             progress: context.progress)
            let artifact = try context.store.put(tree)
            try context.journal.recordPlacement(path, digest: artifact.digest)
            return [artifact]
        }
    }

    /// The directory still holds the tree this stage put there (not another one, not deleted).
    func isStillInPlace(_ node: StageNode, outputs: [Artifact], journal: Journal, store: ContentStore) -> Bool {
        guard let path = node.parameters.string("path"), let tree = outputs.first,
              FileManager.default.fileExists(atPath: path + "/" + TreeMaterializer.ownerMark),
              (try? journal.placement(path)) == tree.digest else { return false }
        // Files deleted or changed in the collect point since are put back.
        guard let manifest = try? store.tree(tree.digest) else { return false }
        return TreeMaterializer.holds(manifest, at: path)
    }
}

/// `archive` collect point: a tar archive of the collected tree at `path/archive_name`, written beside
/// its final name and renamed into place.
struct ArchiveCollectPoint: StageRunner {
    let version = "1"
    let alwaysRuns = false

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        guard let path = parameters.string("path"), let name = parameters.string("archive_name"),
              let format = ArchiveFormat.from(name: name) else {
            throw StageFailure("archive collect point needs a path and an archive_name ending in \(ArchiveFormat.suffixList)")
        }
        let compression = Self.compressionLevel(parameters)
        return try await context.blocking {
            let tree = try TreeAssembler.assemble(context.inputs, store: context.store, journal: context.journal, date: context.date)
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let final = path + "/" + name
            try AtomicFile.write(final) { sink in
                try TarWriter.write(tree, format: format, level: compression, store: context.store,
                                    cancellation: context.cancellation, sink: sink)
            }
            let artifact = try context.store.put(tree)
            try context.journal.recordPlacement(final, digest: artifact.digest)
            return [artifact]
        }
    }

    /// The archive file is still there and was made from this tree.
    func isStillInPlace(_ node: StageNode, outputs: [Artifact], journal: Journal, store: ContentStore) -> Bool {
        guard let path = node.parameters.string("path"), let name = node.parameters.string("archive_name"), let tree = outputs.first,
              FileManager.default.fileExists(atPath: path + "/" + name) else { return false }
        return (try? journal.placement(path + "/" + name)) == tree.digest
    }

    static func compressionLevel(_ parameters: Parameters) -> Int? {
        if case .int(let value)? = parameters["compression_level"] { return value }
        return nil
    }
}

/// The `archive` stage: the tar of a collect point's tree, in the store, shared by every backup point
/// that wants this format.
struct ArchiveStage: StageRunner {
    let version = "1"
    let alwaysRuns = false

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        guard let formatName = parameters.string("format"), let format = ArchiveFormat(rawValue: formatName) else {
            throw StageFailure("archive stage without a format")
        }
        let compression = ArchiveCollectPoint.compressionLevel(parameters)
        let name = (context.node.collectPoint ?? "archive") + "." + format.rawValue
        return try await context.blocking {
            let tree = try TreeAssembler.assemble(context.inputs, store: context.store, journal: context.journal, date: context.date)
            let writer = try context.store.makeWriter()
            try TarWriter.write(tree, format: format, level: compression, store: context.store, cancellation: context.cancellation) {
                try writer.write($0)
                context.progress(writer.count)
            }
            return [try writer.finish(location: name)]
        }
    }
}
