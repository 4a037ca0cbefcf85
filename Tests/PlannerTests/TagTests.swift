import Testing
@testable import Planner

/// The original's association rule, as a table. Labels are tags (and the point's name).
@Suite struct TagTests {
    struct Case: Sendable, CustomStringConvertible {
        let cpTags: [String]
        let cpRule: TagRule
        let bpTags: [String]
        let bpRule: TagRule
        let associated: Bool
        let why: String
        var description: String { why }
    }

    static let cases: [Case] = [
        Case(cpTags: ["collect"], cpRule: TagRule(), bpTags: ["backup"], bpRule: TagRule(), associated: true,
             why: "defaults: all to all"),
        Case(cpTags: ["website"], cpRule: TagRule(), bpTags: ["backup"], bpRule: TagRule(include: ["website"]), associated: true,
             why: "backup point includes the tag"),
        Case(cpTags: ["intranet"], cpRule: TagRule(), bpTags: ["backup"], bpRule: TagRule(include: ["website"]), associated: false,
             why: "an explicit include on one side is not overridden by the other side's default"),
        Case(cpTags: ["website"], cpRule: TagRule(include: ["offsite"]), bpTags: ["offsite"], bpRule: TagRule(), associated: true,
             why: "collect point includes the backup point's tag"),
        Case(cpTags: ["c"], cpRule: TagRule(include: ["huge", "large"]), bpTags: ["small-only"], bpRule: TagRule(), associated: false,
             why: "the original's doc example now does what it says"),
        Case(cpTags: ["c"], cpRule: TagRule(include: ["nothing"]), bpTags: ["b"], bpRule: TagRule(include: ["c"]), associated: true,
             why: "an inclusion on either side suffices"),
        Case(cpTags: ["private"], cpRule: TagRule(exclude: ["*"]), bpTags: ["backup"], bpRule: TagRule(include: ["*"]), associated: false,
             why: "an exclusion on the collect point vetoes an inclusion on the backup point"),
        Case(cpTags: ["secret"], cpRule: TagRule(include: ["*"]), bpTags: ["cloud"], bpRule: TagRule(exclude: ["sec*"]), associated: false,
             why: "an exclusion on the backup point vetoes an inclusion on the collect point"),
        Case(cpTags: ["db1"], cpRule: TagRule(), bpTags: ["b"], bpRule: TagRule(include: ["db?"]), associated: true,
             why: "? matches one character"),
        Case(cpTags: ["db10"], cpRule: TagRule(), bpTags: ["b"], bpRule: TagRule(include: ["db?"]), associated: false,
             why: "? matches exactly one character"),
        Case(cpTags: ["dbx"], cpRule: TagRule(), bpTags: ["b"], bpRule: TagRule(include: ["db[xy]"]), associated: true,
             why: "[...] matches a set"),
        Case(cpTags: ["dbx"], cpRule: TagRule(), bpTags: ["b"], bpRule: TagRule(include: ["db[!xy]"]), associated: false,
             why: "[!...] negates a set"),
        Case(cpTags: ["Website"], cpRule: TagRule(), bpTags: ["b"], bpRule: TagRule(include: ["website"]), associated: false,
             why: "matching is case-sensitive"),
        Case(cpTags: ["a"], cpRule: TagRule(include: []), bpTags: ["b"], bpRule: TagRule(include: []), associated: false,
             why: "empty includes on both sides associate nothing"),
        Case(cpTags: [], cpRule: TagRule(), bpTags: [], bpRule: TagRule(), associated: true,
             why: "no tags: the names still match the default *"),
    ]

    @Test(arguments: cases)
    func association(_ item: Case) {
        #expect(Association.associates(collectPointLabels: item.cpTags + ["cp"], rule: item.cpRule,
                                       backupPointLabels: item.bpTags + ["bp"], rule: item.bpRule) == item.associated,
                "\(item.why)")
    }

    @Test func namesCountAsLabels() {
        #expect(Association.associates(collectPointLabels: ["collect", "www"], rule: TagRule(),
                                       backupPointLabels: ["backup", "offsite"], rule: TagRule(include: ["www"])))
    }
}
