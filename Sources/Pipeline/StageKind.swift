/// The few kinds of stage a pipeline is made of (DESIGN.md, "The model").
public enum StageKind: String, CaseIterable, Sendable, Codable, Comparable {
    case dump, filter, collect, archive, upload, prune, verify, notify

    /// An effect writes outside the local state; `plan` never runs one.
    public var isEffect: Bool {
        switch self {
        case .upload, .prune, .notify: return true
        case .dump, .filter, .collect, .archive, .verify: return false
        }
    }

    public static func < (lhs: StageKind, rhs: StageKind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
