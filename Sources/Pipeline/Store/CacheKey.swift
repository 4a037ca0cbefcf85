/// A stage's cache key: the hash of its kind, engine and version, its parameters (secrets only as a
/// keyed fingerprint) and the digests of its inputs. Same key, outputs present: the stage need not run.
public enum CacheKey {
    public static func compute(node: StageNode, inputs: [StageContext.Input], fingerprinter: Fingerprinter,
                               secrets: Secrets) throws -> String {
        var text = "polyarchiv-stage 2\nkind \(node.kind.rawValue)\nengine \(node.engine) \(node.work.version)\n"
        for (name, value) in node.parameters {
            text += "param \(name) " + (try canonical(value, fingerprinter, secrets)) + "\n"
        }
        let data = inputs.filter { $0.edge.placement.carriesData }
        for input in data.sorted(by: { ($0.edge.from, $0.edge.placement.description) < ($1.edge.from, $1.edge.placement.description) }) {
            for artifact in input.artifacts {
                text += "input \(Tree.quote(input.edge.placement.description)) \(artifact.kind.rawValue) \(artifact.digest.hex) "
                    + Tree.quote(artifact.location ?? "") + (artifact.places.map { " " + Tree.quote($0.map(\.description).joined(separator: ";")) } ?? "")
                    + "\n"
            }
        }
        return Digest.of(text).hex
    }

    static func canonical(_ value: ParameterValue, _ fingerprinter: Fingerprinter, _ secrets: Secrets) throws -> String {
        switch value {
        case .string(let text): return "s" + Tree.quote(text)
        case .int(let number): return "i\(number)"
        case .bool(let flag): return flag ? "b1" : "b0"
        case .list(let items): return "l[" + items.map(Tree.quote).joined(separator: ",") + "]"
        case .map(let entries):
            return "m{" + (try entries.map { Tree.quote($0.0) + ":" + (try canonical($0.1, fingerprinter, secrets)) }).joined(separator: ",") + "}"
        case .secret(let secret): return "secret:" + fingerprinter.fingerprint(try secrets.reveal(secret))
        }
    }
}
