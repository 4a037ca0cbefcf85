import Foundation
import Pipeline

/// `keep:` with the meaning of restic's `forget` (restic 0.16+): newest first, each rule keeps the
/// newest backup of each of its last N buckets (last N, hours, days, ISO weeks, months, years, in the
/// calendar given: local time by default); the oldest backup is kept by every rule with count left;
/// `within` keeps everything newer than the newest backup minus the duration. One backup may be kept
/// by several rules; a backup no rule keeps is removed.
public struct RetentionPolicy: Sendable, Equatable {
    public var last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0
    /// years, months, days, hours
    public var within: (Int, Int, Int, Int)?

    public static func == (lhs: RetentionPolicy, rhs: RetentionPolicy) -> Bool {
        [lhs.last, lhs.hourly, lhs.daily, lhs.weekly, lhs.monthly, lhs.yearly] == [rhs.last, rhs.hourly, rhs.daily, rhs.weekly, rhs.monthly, rhs.yearly]
            && lhs.within.map { [$0.0, $0.1, $0.2, $0.3] } == rhs.within.map { [$0.0, $0.1, $0.2, $0.3] }
    }

    public init() {}

    /// From a compiled `keep` parameter: counts, and `within` as restic writes durations (1y2m3d4h).
    public init(_ value: ParameterValue?) throws {
        guard case .map(let entries)? = value else { throw StageFailure("no retention policy (keep:)") }
        for (key, given) in entries {
            // Counts may come as text (`keep` is compiled into a map of strings).
            var value = given
            if key != "within", case .string(let text) = given, let count = Int(text) { value = .int(count) }
            switch (key, value) {
            case ("last", .int(let count)): last = count
            case ("hourly", .int(let count)): hourly = count
            case ("daily", .int(let count)): daily = count
            case ("weekly", .int(let count)): weekly = count
            case ("monthly", .int(let count)): monthly = count
            case ("yearly", .int(let count)): yearly = count
            case ("within", .string(let text)): within = try Self.parseWithin(text)
            default: throw StageFailure("unknown retention rule \(key)")
            }
        }
    }

    static func parseWithin(_ text: String) throws -> (Int, Int, Int, Int) {
        var result = (0, 0, 0, 0)
        var number = ""
        for character in text {
            if character.isNumber { number.append(character); continue }
            guard let value = Int(number) else { throw StageFailure("`\(text)` is not a duration such as 1y6m2d") }
            switch character {
            case "y": result.0 += value
            case "m": result.1 += value
            case "d": result.2 += value
            case "h": result.3 += value
            default: throw StageFailure("`\(text)` is not a duration such as 1y6m2d")
            }
            number = ""
        }
        return result
    }

    var withinText: String {
        guard let within else { return "" }
        return [(within.0, "y"), (within.1, "m"), (within.2, "d"), (within.3, "h")].filter { $0.0 > 0 }.map { "\($0.0)\($0.1)" }.joined()
    }

    public struct Decision<Item> {
        public let item: Item
        public let date: Date
        /// Why it is kept (`daily snapshot`, `within 7d`…); empty: it is removed.
        public let reasons: [String]
        public var kept: Bool { !reasons.isEmpty }
    }

    /// Every item, newest first, with the rules that keep it.
    public func apply<Item>(_ items: [Item], date: (Item) -> Date, calendar: Calendar = .current, now: Date = Date()) -> [Decision<Item>] {
        let sorted = items.enumerated().sorted { lhs, rhs in
            let (a, b) = (date(lhs.element), date(rhs.element))
            return a != b ? a > b : lhs.offset < rhs.offset  // stable, newest first
        }.map(\.element)
        func components(_ day: Date) -> DateComponents {
            calendar.dateComponents([.year, .month, .day, .hour], from: day)
        }
        var iso = Calendar(identifier: .iso8601)
        iso.timeZone = calendar.timeZone
        var buckets: [(count: Int, reason: String, last: Int?, key: (Date, Int) -> Int)] = [
            (last, "last snapshot", nil, { _, index in index }),
            (hourly, "hourly snapshot", nil, { day, _ in
                let c = components(day)
                return c.year! * 1_000_000 + c.month! * 10_000 + c.day! * 100 + c.hour!
            }),
            (daily, "daily snapshot", nil, { day, _ in let c = components(day); return c.year! * 10_000 + c.month! * 100 + c.day! }),
            (weekly, "weekly snapshot", nil, { day, _ in
                let c = iso.dateComponents([.yearForWeekOfYear, .weekOfYear], from: day)
                return c.yearForWeekOfYear! * 100 + c.weekOfYear!
            }),
            (monthly, "monthly snapshot", nil, { day, _ in let c = components(day); return c.year! * 100 + c.month! }),
            (yearly, "yearly snapshot", nil, { day, _ in components(day).year! }),
        ]
        // `within` counts back from the newest backup that is not in the future.
        var limit: Date?
        if let within, let latest = sorted.map(date).first(where: { $0 <= now }) ?? sorted.first.map(date) {
            var parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond], from: latest)
            parts.year! -= within.0
            parts.month! -= within.1
            parts.day! -= within.2
            // Go's AddDate: an impossible date rolls over (March 31 minus one month is March 3).
            limit = calendar.date(from: parts).map { $0.addingTimeInterval(-3600 * Double(within.3)) }
        }
        return sorted.enumerated().map { index, item in
            let time = date(item)
            var reasons: [String] = []
            if let limit, time > limit { reasons.append("within \(withinText)") }
            for bucket in buckets.indices where buckets[bucket].count != 0 {
                let value = buckets[bucket].key(time, index)
                let isOldest = index == sorted.count - 1
                if value != buckets[bucket].last || isOldest {
                    reasons.append((value == buckets[bucket].last ? "oldest " : "") + buckets[bucket].reason)
                    buckets[bucket].last = value
                    if buckets[bucket].count > 0 { buckets[bucket].count -= 1 }
                }
            }
            return Decision(item: item, date: time, reasons: reasons)
        }
    }
}
