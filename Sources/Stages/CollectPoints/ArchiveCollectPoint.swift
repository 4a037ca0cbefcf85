import Foundation
import Pipeline

/// `archive` collect point: a tar archive of the collected tree at `path/archive_name`, written beside
/// its final name and renamed into place.
struct ArchiveCollectPoint: CollectPointEngine {
    static let spec = EngineSpec("archive", .collectPoint,
                                 "A tar archive of the collected tree (.tar.gz, .tar.bz2, .tar.xz or .tar.zst).", parameters: [
        CollectPointPath.spec,
        ParameterSpec("archive_name", .string, default: "{name}.tar.zst", "Archive file name inside path; its suffix chooses the compression."),
        ParameterSpec("compression_level", .int(1...22), "Compression level (default: the format's own)."),
    ])

    let version = "2"
    let alwaysRuns = false
    let path: String
    let archiveName: String
    let format: ArchiveFormat
    let level: Int?

    init(_ parameters: EngineParameters) throws {
        path = try parameters.required("path")
        archiveName = try parameters.required("archive_name")
        guard let format = ArchiveFormat.from(name: archiveName) else {
            throw ConfigurationError("`archive_name` `\(archiveName)` must end with \(ArchiveFormat.suffixList)", parameter: "archive_name")
        }
        self.format = format
        level = parameters.int("compression_level")
    }

    var archive: String { path + "/" + archiveName }
    var summary: String { "archive at \(archive)" }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let tree = try TreeAssembler.assemble(context)
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            context.wrote(path)
            // The frames of the archive it replaces are copied where its content did not change.
            var frames: [String: FrameIndex.Frame] = [:]
            let store = context.store
            let index = FrameIndex.load(context.journal, stage: context.node.id).flatMap { $0.file == archive ? $0 : nil }
            let previous = FrameSource(index) { index in try store.readFile(index.file, expecting: index.archive) { _ in } }
            var hash = StreamingHash()
            try AtomicFile.write(archive) { sink in
                frames = try TarWriter.write(tree, format: format, level: level, store: store, reuse: previous,
                                             cancellation: context.cancellation) { bytes in
                    hash.update(bytes)
                    try sink(bytes)
                }
            }
            try FrameIndex(file: archive, archive: hash.finalize(), frames: frames).save(context.journal, stage: context.node.id)
            // The files stay where they came from (the archive holds a compressed copy).
            let artifact = try context.store.put(tree, places: TreeAssembler.places(context))
            try Placements(context.journal).record(archive, holds: artifact.digest)
            return [artifact]
        }
    }

    /// The archive file is still there and was made from this tree.
    func presence(of outputs: [Artifact], _ context: PresenceContext) -> Presence {
        guard let tree = outputs.first, FileManager.default.fileExists(atPath: archive),
              Placements(context.journal).digest(at: archive) == tree.digest else {
            return .gone("\(archive) is missing or holds another tree")
        }
        return .present
    }

    func restoreItself(at: Date?, commit: String?, into directory: String, _ context: RestoreContext) throws -> RestoredCopy {
        guard at == nil && commit == nil else {
            throw StageFailure("an archive collect point keeps only its newest archive: restore older data from a backup point, "
                               + "or leave out --at/--commit")
        }
        var info = stat()
        guard stat(archive, &info) == 0 else { throw StageFailure("the collect point's archive \(archive) is missing") }
        return RestoredCopy(source: archive, created: Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec)), fetched: .archive(archive))
    }
}
