import Yams

/// An ordered YAML document under construction, serialised with Yams (which quotes what needs it).
indirect enum YAMLValue {
    case string(String)
    case list([YAMLValue])
    case map(YAMLMap)

    var node: Node {
        switch self {
        case .string(let text): return Node(text)
        case .list(let items):
            let flow = items.allSatisfy { if case .string = $0 { return true } else { return false } }
            return Node(items.map(\.node), .implicit, flow ? .flow : .block)
        case .map(let map): return map.node
        }
    }
}

struct YAMLMap {
    private(set) var entries: [(key: String, value: YAMLValue)] = []

    var isEmpty: Bool { entries.isEmpty }

    subscript(key: String) -> YAMLValue? {
        get { entries.first { $0.key == key }?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    /// The map stored under `key`, created when missing, changed in place.
    mutating func update(_ key: String, _ body: (inout YAMLMap) -> Void) {
        var map = YAMLMap()
        if case .map(let existing)? = self[key] { map = existing }
        body(&map)
        self[key] = .map(map)
    }

    var node: Node { Node(entries.map { (Node($0.key), $0.value.node) }) }

    func serialized() -> String {
        (try? Yams.serialize(node: node, width: -1, allowUnicode: true)) ?? ""
    }
}
