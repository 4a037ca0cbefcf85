import Foundation
import Pipeline
import Testing
@testable import Stages

/// restic's own `forget` test table (snapshot times, policies, golden results), replayed on ours.
@Suite struct RetentionPolicyTests {
    struct Fixture: Decodable {
        struct Policy: Decodable {
            struct Kept: Decodable {
                let time: String
                let matches: [String]
            }
            let index: Int
            let policy: [String: PolicyValue]
            let keep: [String]
            let keep_reasons: [Kept]
        }
        enum PolicyValue: Decodable {
            case count(Int), text(String)
            init(from decoder: Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let count = try? container.decode(Int.self) { self = .count(count) } else { self = .text(try container.decode(String.self)) }
            }
        }
        let snapshots: [String]
        let policies: [Policy]
    }

    static let fixture: Fixture = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/restic-forget-policies.json")
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    /// restic's `1y2m3d4h` (months are `m`).
    static func resticDuration(_ text: String) -> TimeSpan {
        var span = TimeSpan()
        var number = ""
        for character in text {
            if character.isNumber { number.append(character); continue }
            let value = Int(number) ?? 0
            switch character {
            case "y": span.years = value
            case "m": span.months = value
            case "d": span.days = value
            default: span.hours = value
            }
            number = ""
        }
        return span
    }

    static func parse(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        return formatter.date(from: text)!
    }

    static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }

    // Index 0 (an empty policy) cannot be written: `keep:` needs a rule.
    @Test(arguments: fixture.policies.filter { !$0.policy.isEmpty }.map(\.index))
    func resticGoldenResults(index: Int) throws {
        let case_ = Self.fixture.policies.first { $0.index == index }!
        var policy = RetentionPolicy()
        for (key, value) in case_.policy {
            switch value {
            case .count(let count): policy.set(key, count)
            case .text(let text): policy.spans[key] = Self.resticDuration(text)
            }
        }
        let snapshots = Self.fixture.snapshots.map(Self.parse)
        let decisions = policy.apply(snapshots, date: { $0 }, calendar: Self.utc, now: Self.parse("2030-01-01T00:00:00Z"))
        let kept = decisions.filter(\.kept)
        #expect(kept.map(\.date) == case_.keep.map(Self.parse), "policy \(index) \(case_.policy)")
        // restic names months `m`; polyarchiv's one duration grammar says `mo`.
        let expected = case_.keep_reasons.map { Set($0.matches.map { reason in
            guard let range = reason.range(of: "within ") else { return reason }
            return reason[..<range.upperBound] + Self.resticDuration(String(reason[range.upperBound...])).description
        }) }
        #expect(kept.map { Set($0.reasons) } == expected, "policy \(index)")
    }

    @Test func theNewestIsAlwaysKeptAndLocalDaysAreBuckets() throws {
        var paris = Calendar(identifier: .gregorian)
        paris.timeZone = TimeZone(identifier: "Europe/Paris")!
        // 23:30 UTC on March 1 is already March 2 in Paris: two Paris days, two daily backups.
        let times = [Self.parse("2026-03-01T12:00:00Z"), Self.parse("2026-03-01T23:30:00Z")]
        var policy = RetentionPolicy()
        policy.daily = 5
        let decisions = policy.apply(times, date: { $0 }, calendar: paris)
        #expect(decisions.filter { !$0.kept }.isEmpty)
        let utcDecisions = policy.apply(times, date: { $0 }, calendar: Self.utc)
        #expect(utcDecisions.map(\.reasons) == [["daily snapshot"], ["oldest daily snapshot"]])
    }

    @Test func resticIsGivenEveryTierAsAFlag() {
        var policy = RetentionPolicy()
        policy.daily = 7
        policy.within = TimeSpan.parse("2w")
        policy.spans["within_daily"] = TimeSpan.parse("7d")
        policy.spans["within_monthly"] = TimeSpan.parse("1y6mo")
        #expect(Restic.keepFlags(policy) == ["--keep-daily=7", "--keep-within=14d", "--keep-within-daily=7d", "--keep-within-monthly=1y6m"])
        #expect(policy.description == "{daily: 7, within: 2w, within_daily: 7d, within_monthly: 1y6mo}")
        // What the planner hands the engine comes back whole.
        guard case .map(let entries) = policy.compiled else { Issue.record("not a map"); return }
        #expect(RetentionPolicy(compiled: entries) == policy)
    }
}
