import Foundation
import Pipeline

/// Puts a stage's inputs together as one tree, as their edges place them: a blob at its file path, a tree
/// under its directory, or at the root (the collect point's whole tree).
enum TreeAssembler {
    /// Mode of dump files: they often hold secrets, so only the owner reads them.
    static let dumpMode: UInt32 = 0o600

    static func assemble(_ context: StageContext) throws -> Tree {
        try assemble(context.inputs, store: context.store, firstSeen: FirstSeen(context))
    }

    /// Where the assembled tree's files are, seen from it: each input tree's places under its destination.
    static func places(_ context: StageContext) -> [TreePlace] {
        context.inputs.flatMap { input -> [TreePlace] in
            let places = input.artifacts.filter { $0.kind == .tree }.flatMap { $0.places ?? [] }
            switch input.edge.placement {
            case .root: return places
            case .path(let destination): return places.map { $0.moved(under: destination) }
            case .order, .after, .listing: return []
            }
        }
    }

    static func assemble(_ inputs: [StageContext.Input], store: ContentStore, firstSeen: FirstSeen) throws -> Tree {
        // An array, not a dictionary by path: each input tree comes sorted, so one input (the usual case) needs
        // no sort at all, and duplicates are neighbours once sorted.
        var entries: [Tree.Entry] = []
        for input in inputs {
            let destination: String
            switch input.edge.placement {
            case .order, .after, .listing: continue
            case .root: destination = ""
            case .path(let path): destination = path
            }
            for artifact in input.artifacts {
                switch artifact.kind {
                case .tree:
                    entries.append(contentsOf: try store.tree(artifact).prefixed(destination))
                case .blob:
                    let path = destination.split(separator: "/").joined(separator: "/")
                    guard !path.isEmpty else { throw StageFailure("a file without a destination reached the collect point") }
                    let parents = path.split(separator: "/").dropLast()
                    for depth in stride(from: 1, through: parents.count, by: 1) {
                        entries.append(Tree.Entry(kind: .directory, path: parents.prefix(depth).joined(separator: "/"), mode: 0o755, mtime: 0))
                    }
                    let mtime = try firstSeen.time(of: artifact.digest)
                    entries.append(Tree.Entry(kind: .file, path: path, mode: dumpMode, size: artifact.size, mtime: mtime, digest: artifact.digest))
                case .remote:
                    continue
                }
            }
        }
        var kept: [Tree.Entry] = []
        kept.reserveCapacity(entries.count)
        for entry in Tree(entries: entries).entries {
            if let last = kept.last, last.path == entry.path {
                if last.kind == .directory && entry.kind == .directory { continue }
                throw StageFailure("two sources write `\(entry.path)` in the collect point; give them different destinations")
            }
            kept.append(entry)
        }
        return Tree(entries: kept)
    }
}

/// When content was first produced (nanoseconds): the stable mtime of a dump in a collect point, so an
/// unchanged dump gives an unchanged tree. Kept in the journal's `first-seen` namespace.
struct FirstSeen {
    let table: StateTable
    let date: Date

    init(_ context: StageContext) {
        table = context.table("first-seen")
        date = context.date
    }

    func time(of digest: Digest) throws -> Int64 {
        if let data = try table.value(digest.hex), let time = Int64(String(decoding: data, as: UTF8.self)) { return time }
        let now = Int64(date.timeIntervalSince1970) * 1_000_000_000
        try table.set(digest.hex, Data(String(now).utf8))
        return now
    }
}
