import Foundation
import Stages

/// How often a point runs. Calendar forms are due when no success happened since the most recent
/// boundary, so a cron job at a fixed time never skips a period; durations are due when that much
/// time has passed since the last success (minus 1% slack for a scheduler's jitter).
public enum Frequency: Sendable, Equatable, CustomStringConvertible {
    case always
    case hourly
    case daily(hour: Int, minute: Int)
    /// `weekday`: 1 = Monday … 7 = Sunday.
    case weekly(weekday: Int)
    case monthly(day: Int)
    /// Due again when the span has passed since the last success (a calendar span for years and months).
    case every(TimeSpan)

    static let weekdayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    static let weekdayFullNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    public var description: String {
        switch self {
        case .always: return "always"
        case .hourly: return "hourly"
        case let .daily(hour, minute): return String(format: "daily@%02d:%02d", hour, minute)
        case .weekly(let weekday): return "weekly@\(Self.weekdayNames[weekday - 1])"
        case .monthly(let day): return "monthly@\(day)"
        case .every(let span): return span.description
        }
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ text: String) throws -> Frequency {
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        let usage = "use always, hourly, daily[@HH:MM], weekly[@mon..sun], monthly[@1..28] or \(TimeSpan.grammar)"
        func fail(_ why: String) -> ParseError { ParseError(description: "invalid frequency `\(text)`: \(why); \(usage)") }
        switch value {
        case "always", "": return .always
        case "hourly": return .hourly
        case "daily": return .daily(hour: 0, minute: 0)
        case "weekly": return .weekly(weekday: 1)
        case "monthly": return .monthly(day: 1)
        default: break
        }

        for separator in ["@", ":"] {
            let parts = value.split(separator: Character(separator), maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let original = separator == ":"  // daily:H, weekly:D (0 = Monday), monthly:D
            switch parts[0] {
            case "daily":
                if original {
                    guard let hour = Int(parts[1]), (0...23).contains(hour) else { throw fail("the hour must be 0…23") }
                    return .daily(hour: hour, minute: 0)
                }
                let time = parts[1].split(separator: ":").map { Int($0) }
                guard time.count == 2, let hour = time[0], let minute = time[1], (0...23).contains(hour), (0...59).contains(minute)
                else { throw fail("the time must be HH:MM between 00:00 and 23:59") }
                return .daily(hour: hour, minute: minute)
            case "weekly":
                if original {
                    guard let day = Int(parts[1]), (0...6).contains(day) else { throw fail("the day must be 0 (Monday)…6 (Sunday)") }
                    return .weekly(weekday: day + 1)
                }
                guard let index = weekdayNames.firstIndex(where: { parts[1] == $0 || parts[1] == Self.weekdayFullNames[weekdayNames.firstIndex(of: $0)!] })
                else { throw fail("the day must be mon, tue, wed, thu, fri, sat or sun") }
                return .weekly(weekday: index + 1)
            case "monthly":
                guard let day = Int(parts[1]), (1...28).contains(day) else {
                    throw fail("the day must be 1…28 (every month has it)")
                }
                return .monthly(day: day)
            default:
                continue
            }
        }
        if let span = TimeSpan.parse(value) {  // plain seconds are the original's form
            guard !span.isZero else { throw fail("a duration must be positive") }
            return .every(span)
        }
        throw fail("not a known form")
    }

    /// Whether a point whose last success was `lastSuccess` is due at `now`.
    public func isDue(lastSuccess: Date?, now: Date, calendar: Calendar = .current) -> Bool {
        guard let lastSuccess else { return true }
        switch self {
        case .always:
            return true
        case .every(let span):
            return now.timeIntervalSince(lastSuccess) >= span.after(lastSuccess, calendar: calendar).timeIntervalSince(lastSuccess) * 0.99
        default:
            guard let boundary = mostRecentBoundary(atOrBefore: now, calendar: calendar) else { return true }
            return lastSuccess < boundary
        }
    }

    /// When the point is next due, given its last success; `nil` when it is due now.
    public func nextDue(lastSuccess: Date?, now: Date, calendar: Calendar = .current) -> Date? {
        guard let lastSuccess, !isDue(lastSuccess: lastSuccess, now: now, calendar: calendar) else { return nil }
        switch self {
        case .always: return nil
        case .every(let span): return lastSuccess.addingTimeInterval(span.after(lastSuccess, calendar: calendar).timeIntervalSince(lastSuccess) * 0.99)
        default: return nextBoundary(after: lastSuccess, calendar: calendar)
        }
    }

    private var boundaryComponents: DateComponents? {
        switch self {
        case .always, .every: return nil
        case .hourly: return DateComponents(minute: 0, second: 0)
        case let .daily(hour, minute): return DateComponents(hour: hour, minute: minute, second: 0)
        case .weekly(let weekday): return DateComponents(hour: 0, minute: 0, second: 0, weekday: weekday % 7 + 1)
        case .monthly(let day): return DateComponents(day: day, hour: 0, minute: 0, second: 0)
        }
    }

    /// The latest boundary at or before `date`. A boundary inside a DST gap moves to the first
    /// valid time after it; a repeated hour counts once (its first occurrence).
    func mostRecentBoundary(atOrBefore date: Date, calendar: Calendar) -> Date? {
        guard let components = boundaryComponents else { return nil }
        // Search forward from a point safely before `date`: Foundation's backward search is less predictable.
        let span: TimeInterval
        switch self {
        case .hourly: span = 2 * 3600
        case .daily: span = 2 * 86400
        case .weekly: span = 8 * 86400
        default: span = 32 * 86400
        }
        var candidate = calendar.nextDate(after: date.addingTimeInterval(-span), matching: components,
                                          matchingPolicy: .nextTime, repeatedTimePolicy: .first, direction: .forward)
        var latest: Date?
        while let current = candidate, current <= date {
            latest = current
            candidate = calendar.nextDate(after: current, matching: components,
                                          matchingPolicy: .nextTime, repeatedTimePolicy: .first, direction: .forward)
        }
        return latest
    }

    func nextBoundary(after date: Date, calendar: Calendar) -> Date? {
        guard let components = boundaryComponents else { return nil }
        return calendar.nextDate(after: date, matching: components, matchingPolicy: .nextTime,
                                 repeatedTimePolicy: .first, direction: .forward)
    }
}
