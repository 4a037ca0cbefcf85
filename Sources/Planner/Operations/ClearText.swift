import Foundation
import Pipeline
import Stages

/// After a run, the clear text of an encrypted collect point leaves the store: the dumps and the filter
/// outputs before a collect point filter that hides its input, unless something not upstream of it holds
/// the same bytes. (The collect point's own path only ever receives the ciphertext.)
enum ClearText {
    static func remove(_ pipeline: CompiledPipeline, results: [NodeResult], store: ContentStore) {
        let graph = pipeline.graph
        let hiding = pipeline.nodes { if case .collectFilter = $0 { return true } else { return false } }
            .filter { ($0.work as? any FilterEngine)?.hidesItsInput == true }
        guard !hiding.isEmpty else { return }
        var upstream = Set<StageID>()
        for node in hiding {
            var pending = graph.inputs(of: node.id).map(\.from)
            while let id = pending.popLast() {
                if upstream.insert(id).inserted { pending += graph.inputs(of: id).map(\.from) }
            }
        }
        var clear = Set<Digest>(), kept = Set<Digest>()
        for result in results where graph.node(result.id)?.kind != .notify {
            for artifact in result.outputs where artifact.kind != .remote {
                let digests = [artifact.digest] + (artifact.kind == .tree ? entryDigests(artifact.digest, store) : [])
                if upstream.contains(result.id) { clear.formUnion(digests) } else { kept.formUnion(digests) }
            }
        }
        for digest in clear.subtracting(kept) { store.remove(digest) }
    }

    private static func entryDigests(_ tree: Digest, _ store: ContentStore) -> [Digest] {
        ((try? store.tree(tree))?.files ?? []).compactMap(\.digest)
    }
}
