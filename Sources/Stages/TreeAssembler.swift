import Foundation
import Pipeline

/// Puts a stage's inputs together as one tree: a blob lands at its edge's destination, a tree under
/// its destination directory (an edge labelled `tree` is the whole collect point, at the root).
enum TreeAssembler {
    /// Mode of dump files: they often hold secrets, so only the owner reads them.
    static let dumpMode: UInt32 = 0o600

    static func assemble(_ inputs: [StageContext.Input], store: ContentStore, journal: Journal, date: Date) throws -> Tree {
        var entries: [String: Tree.Entry] = [:]
        func add(_ entry: Tree.Entry) throws {
            if let existing = entries[entry.path] {
                if existing.kind == .directory && entry.kind == .directory { return }
                throw StageFailure("two sources write `\(entry.path)` in the collect point; give them different destinations")
            }
            entries[entry.path] = entry
        }
        for input in inputs {
            let destination = input.edge.label == "tree" ? "" : input.edge.label
            for artifact in input.artifacts {
                switch artifact.kind {
                case .tree:
                    for entry in try store.tree(artifact.digest).prefixed(destination) { try add(entry) }
                case .blob:
                    let path = destination.split(separator: "/").joined(separator: "/")
                    let parents = path.split(separator: "/").dropLast()
                    for depth in stride(from: 1, through: parents.count, by: 1) {
                        try add(Tree.Entry(kind: .directory, path: parents.prefix(depth).joined(separator: "/"), mode: 0o755, mtime: 0))
                    }
                    let mtime = try journal.firstSeen(artifact.digest, at: date)
                    try add(Tree.Entry(kind: .file, path: path, mode: dumpMode, size: artifact.size, mtime: mtime, digest: artifact.digest))
                case .remote:
                    continue
                }
            }
        }
        return Tree(entries: Array(entries.values))
    }
}
