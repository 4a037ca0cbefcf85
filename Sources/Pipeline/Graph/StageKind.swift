/// The few kinds of stage a pipeline is made of (DESIGN.md, "The model"), and those of a restore.
public enum StageKind: String, CaseIterable, Sendable, Codable, Comparable {
    case dump, filter, collect, archive, upload, prune, verify, notify
    /// Restore: a backup brought back, a filter undone, an archive extracted, a source put back.
    case fetch, unfilter, extract, putback

    /// An effect writes outside the local state; `plan` never runs one.
    public var isEffect: Bool {
        switch self {
        case .upload, .prune, .notify, .putback: return true
        case .dump, .filter, .collect, .archive, .verify, .fetch, .unfilter, .extract: return false
        }
    }

    public static func < (lhs: StageKind, rhs: StageKind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
