import Foundation

/// Globs that select points by name or tag: `{ include: [...], exclude: [...] }`.
/// `include == nil` means the user said nothing (see `Association`).
public struct TagRule: Sendable, Equatable {
    public var include: [String]?
    public var exclude: [String]

    public init(include: [String]? = nil, exclude: [String] = []) {
        self.include = include
        self.exclude = exclude
    }

    /// Whether any glob matches any of the labels (`*`, `?`, `[...]`, `[!...]`, case-sensitive).
    static func anyMatch(_ patterns: [String], _ labels: [String]) -> Bool {
        patterns.contains { pattern in labels.contains { fnmatch(pattern, $0, 0) == 0 } }
    }
}

/// Which collect points a backup point ships: the original tool's rule.
/// 1. a collect point label matching the backup point's `exclude` vetoes the pair;
/// 2. a backup point label matching the collect point's `exclude` vetoes it;
/// 3. a collect point label matching the backup point's `include` associates;
/// 4. a backup point label matching the collect point's `include` associates;
/// 5. otherwise not.
/// Labels are the point's tags and its name. An unset `include` means `*` only while the other side
/// has no `include` either: in the original, the default `*` on one side made an explicit `include`
/// on the other side useless (its own documented example associated when it meant not to).
public enum Association {
    public static func associates(collectPointLabels cpLabels: [String], rule cpRule: TagRule,
                                  backupPointLabels bpLabels: [String], rule bpRule: TagRule) -> Bool {
        if TagRule.anyMatch(bpRule.exclude, cpLabels) { return false }
        if TagRule.anyMatch(cpRule.exclude, bpLabels) { return false }
        let neitherIncludes = cpRule.include == nil && bpRule.include == nil
        let bpInclude = bpRule.include ?? (neitherIncludes ? ["*"] : [])
        let cpInclude = cpRule.include ?? (neitherIncludes ? ["*"] : [])
        if TagRule.anyMatch(bpInclude, cpLabels) { return true }
        if TagRule.anyMatch(cpInclude, bpLabels) { return true }
        return false
    }
}
