import Foundation

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
    case every(seconds: Int)

    static let weekdayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    static let weekdayFullNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    public var description: String {
        switch self {
        case .always: return "always"
        case .hourly: return "hourly"
        case let .daily(hour, minute): return String(format: "daily@%02d:%02d", hour, minute)
        case .weekly(let weekday): return "weekly@\(Self.weekdayNames[weekday - 1])"
        case .monthly(let day): return "monthly@\(day)"
        case .every(let seconds): return Duration.format(seconds)
        }
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ text: String) throws -> Frequency {
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        let usage = "use always, hourly, daily[@HH:MM], weekly[@mon..sun], monthly[@1..28] or a duration such as 6h"
        func fail(_ why: String) -> ParseError { ParseError(description: "invalid frequency `\(text)`: \(why); \(usage)") }
        switch value {
        case "always", "": return .always
        case "hourly": return .hourly
        case "daily": return .daily(hour: 0, minute: 0)
        case "weekly": return .weekly(weekday: 1)
        case "monthly": return .monthly(day: 1)
        default: break
        }
        if let seconds = Int(value) {  // the original's plain seconds
            guard seconds > 0 else { throw fail("a duration must be positive") }
            return .every(seconds: seconds)
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
        if let seconds = Duration.parse(value) {
            guard seconds > 0 else { throw fail("a duration must be positive") }
            return .every(seconds: seconds)
        }
        throw fail("not a known form")
    }

    /// Whether a point whose last success was `lastSuccess` is due at `now`.
    public func isDue(lastSuccess: Date?, now: Date, calendar: Calendar = .current) -> Bool {
        guard let lastSuccess else { return true }
        switch self {
        case .always:
            return true
        case .every(let seconds):
            return now.timeIntervalSince(lastSuccess) >= Double(seconds) * 0.99
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
        case .every(let seconds): return lastSuccess.addingTimeInterval(Double(seconds) * 0.99)
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

/// Durations written as `90s`, `30m`, `6h`, `2d`, `1w`, combined (`1h30m`), or plain seconds.
public enum Duration {
    static let units: [(Character, Int)] = [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]

    public static func parse(_ text: String) -> Int? {
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let seconds = Int(value) { return seconds >= 0 ? seconds : nil }
        var total = 0
        var number = ""
        var lastUnit = -1
        for character in value {
            if character.isASCII && character.isNumber {
                number.append(character)
            } else if let index = units.firstIndex(where: { $0.0 == character }), let amount = Int(number), index > lastUnit {
                let (product, overflow) = amount.multipliedReportingOverflow(by: units[index].1)
                guard !overflow else { return nil }
                total += product
                number = ""
                lastUnit = index
            } else {
                return nil
            }
        }
        return number.isEmpty && lastUnit >= 0 ? total : nil
    }

    public static func format(_ seconds: Int) -> String {
        guard seconds > 0 else { return "0s" }
        var rest = seconds
        var text = ""
        for (unit, size) in units where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text
    }
}
