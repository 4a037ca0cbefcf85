import Foundation
import Pipeline

/// `files` collect point: the collected tree, materialised at its path.
struct FilesCollectPoint: CollectPointEngine {
    static let spec = EngineSpec("files", .collectPoint, "A plain folder holding the collected tree.", parameters: [CollectPointPath.spec])

    let version = "1"
    let alwaysRuns = false
    let path: String

    init(_ parameters: EngineParameters) throws {
        path = try parameters.required("path")
    }

    var summary: String { "files at \(path)" }
    var treeDirectory: TreeDirectory? { TreeDirectory(path: path, exclude: [TreeMaterializer.ownerMark]) }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [path] in
            let tree = try TreeAssembler.assemble(context)
            context.wrote(path)
            try TreeMaterializer.materialize(tree, at: path, store: context.store, cancellation: context.cancellation,
                                             progress: context.progress)
            // The tree's files are here now: readers find them in the collect point, not in the store.
            let artifact = try context.store.put(tree, placedAt: path)
            try Placements(context.journal).record(path, holds: artifact.digest)
            return [artifact]
        }
    }

    /// The directory still holds the tree this stage put there (not another one, not deleted); files deleted
    /// or changed in the collect point since are put back.
    func presence(of outputs: [Artifact], _ context: PresenceContext) -> Presence {
        guard let tree = outputs.first else { return .gone("no tree") }
        guard FileManager.default.fileExists(atPath: path + "/" + TreeMaterializer.ownerMark),
              Placements(context.journal).digest(at: path) == tree.digest else {
            return .gone("\(path) no longer holds what the last run put there")
        }
        guard let manifest = try? context.store.tree(tree.digest), TreeMaterializer.holds(manifest, at: path, store: context.store) else {
            return .gone("files in \(path) were changed or deleted since the last run")
        }
        return .present
    }

    func restoreItself(at: Date?, commit: String?, into directory: String, _ context: RestoreContext) throws -> RestoredCopy {
        throw StageFailure("a files collect point keeps no history: restore it from a backup point, or copy \(path) itself")
    }
}

/// The `path` parameter every collect point has.
enum CollectPointPath {
    static let spec = ParameterSpec("path", .path, required: true, "Local directory the collect point keeps its data in.")
}

/// What a place outside the store (a collect point's directory, an archive file) held when polyarchiv
/// last wrote it, so that a cache hit can tell it is still in place. The journal's `placements` namespace.
struct Placements {
    let table: StateTable

    init(_ journal: Journal) { table = journal.table("placements") }

    func record(_ place: String, holds digest: Digest) throws {
        try table.set(place, Data(digest.hex.utf8), keeps: [digest])
    }

    func digest(at place: String) -> Digest? {
        (try? table.value(place)).flatMap { $0 }.flatMap { Digest(hex: String(decoding: $0, as: UTF8.self)) }
    }
}
