import Foundation
import Pipeline

/// `keep:` with the meaning of restic's `forget` (restic 0.16+): newest first, each rule keeps the
/// newest backup of each of its last N buckets (last N, hours, days, ISO weeks, months, years, in the
/// calendar given: local time by default); the oldest backup is kept by every rule with count left;
/// `within` keeps everything newer than the newest backup minus the duration, and `within_daily` (and
/// hourly, weekly, monthly, yearly) the newest backup of each day in that span, however many.
/// One backup may be kept by several rules; a backup no rule keeps is removed.
public struct RetentionPolicy: Sendable, Equatable, CustomStringConvertible {
    public var last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0
    /// `within`, `within_hourly` … `within_yearly`: spans back from the newest backup.
    public var spans: [String: TimeSpan] = [:]
    /// Everything newer than the newest backup minus this span.
    public var within: TimeSpan? {
        get { spans["within"] }
        set { spans["within"] = newValue }
    }

    public static let countKeys = ["last", "hourly", "daily", "weekly", "monthly", "yearly"]
    public static let spanKeys = ["within"] + countKeys.dropFirst().map { "within_" + $0 }
    public static let keys = countKeys + spanKeys

    public init() {}

    public var isEmpty: Bool { self == RetentionPolicy() }

    public mutating func set(_ key: String, _ count: Int) {
        switch key {
        case "last": last = count
        case "hourly": hourly = count
        case "daily": daily = count
        case "weekly": weekly = count
        case "monthly": monthly = count
        case "yearly": yearly = count
        default: break
        }
    }

    var counts: [(String, Int)] {
        [("last", last), ("hourly", hourly), ("daily", daily), ("weekly", weekly), ("monthly", monthly), ("yearly", yearly)]
    }

    /// As the configuration writes it: `{daily: 7, weekly: 4, within: 1y6mo}`.
    public var description: String {
        var parts = counts.filter { $0.1 != 0 }.map { "\($0.0): \($0.1)" }
        parts += Self.spanKeys.compactMap { key in spans[key].map { "\(key): \($0)" } }
        return "{" + parts.joined(separator: ", ") + "}"
    }

    /// How the planner hands it to the engine (and to the cache key): counts, and `within` by unit.
    public var compiled: ParameterValue {
        var entries: [(String, ParameterValue)] = counts.filter { $0.1 != 0 }.map { ($0.0, .int($0.1)) }
        for key in Self.spanKeys {
            guard let span = spans[key] else { continue }
            entries.append((key, .map([("y", .int(span.years)), ("mo", .int(span.months)), ("w", .int(span.weeks)),
                                       ("d", .int(span.days)), ("h", .int(span.hours))])))
        }
        return .map(entries)
    }

    init(compiled entries: [(String, ParameterValue)]) {
        for (key, value) in entries {
            switch value {
            case .int(let count): set(key, count)
            case .map(let units) where Self.spanKeys.contains(key):
                var span = TimeSpan()
                for case let (unit, .int(amount)) in units {
                    switch unit {
                    case "y": span.years = amount
                    case "mo": span.months = amount
                    case "w": span.weeks = amount
                    case "d": span.days = amount
                    default: span.hours = amount
                    }
                }
                spans[key] = span
            default: continue
            }
        }
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
        // Spans count back from the newest backup that is not in the future.
        // Go's AddDate: an impossible date rolls over (March 31 minus one month is March 3).
        let latest = sorted.map(date).first(where: { $0 <= now }) ?? sorted.first.map(date)
        func limit(_ key: String) -> Date? { latest.flatMap { spans[key]?.before($0, calendar: calendar) } }
        let withinLimit = limit("within")
        // restic's --keep-within-daily and the others: no count, every bucket inside the span.
        var spanBuckets: [(limit: Date, reason: String, last: Int?, key: (Date, Int) -> Int)] = buckets.dropFirst().enumerated()
            .compactMap { offset, bucket in
                let key = Self.spanKeys[offset + 1]
                guard let limit = limit(key), let span = spans[key] else { return nil }
                return (limit, bucket.reason.replacingOccurrences(of: "snapshot", with: "within") + " \(span)", nil, bucket.key)
            }
        return sorted.enumerated().map { index, item in
            let time = date(item)
            var reasons: [String] = []
            let isOldest = index == sorted.count - 1
            if let withinLimit, let within, time > withinLimit { reasons.append("within \(within)") }
            for bucket in buckets.indices where buckets[bucket].count != 0 {
                let value = buckets[bucket].key(time, index)
                if value != buckets[bucket].last || isOldest {
                    reasons.append((value == buckets[bucket].last ? "oldest " : "") + buckets[bucket].reason)
                    buckets[bucket].last = value
                    if buckets[bucket].count > 0 { buckets[bucket].count -= 1 }
                }
            }
            for bucket in spanBuckets.indices where time > spanBuckets[bucket].limit {
                let value = spanBuckets[bucket].key(time, index)
                if value != spanBuckets[bucket].last || isOldest {
                    reasons.append((value == spanBuckets[bucket].last ? "oldest " : "") + spanBuckets[bucket].reason)
                    spanBuckets[bucket].last = value
                }
            }
            return Decision(item: item, date: time, reasons: reasons)
        }
    }
}
