/// A stage's cache key: the hash of its kind, engine and version, its parameters (secrets only as a
/// keyed fingerprint) and the digests of its inputs. Same key, outputs present: the stage need not run.
public enum CacheKey {
    public static func compute(node: StageNode, version: String, inputs: [StageContext.Input],
                               fingerprinter: Fingerprinter) throws -> String {
        var text = "polyarchiv-stage 1\nkind \(node.kind.rawValue)\nengine \(node.engine) \(version)\n"
        for (name, value) in node.parameters {
            text += "param \(name) " + (try canonical(value, fingerprinter)) + "\n"
        }
        for input in inputs.sorted(by: { ($0.edge.from, $0.edge.label) < ($1.edge.from, $1.edge.label) }) {
            for artifact in input.artifacts {
                text += "input \(Tree.quote(input.edge.label)) \(artifact.kind.rawValue) \(artifact.digest.hex) "
                    + Tree.quote(artifact.location ?? "") + "\n"
            }
        }
        return Digest.of(text).hex
    }

    static func canonical(_ value: ParameterValue, _ fingerprinter: Fingerprinter) throws -> String {
        switch value {
        case .string(let text): return "s" + Tree.quote(text)
        case .int(let number): return "i\(number)"
        case .bool(let flag): return flag ? "b1" : "b0"
        case .list(let items): return "l[" + items.map(Tree.quote).joined(separator: ",") + "]"
        case .map(let entries):
            return "m{" + (try entries.map { Tree.quote($0.0) + ":" + (try canonical($0.1, fingerprinter)) }).joined(separator: ",") + "}"
        case .secret(let secret): return "secret:" + fingerprinter.fingerprint(try secret.reveal())
        }
    }
}
