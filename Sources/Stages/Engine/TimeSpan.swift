import Foundation

/// One grammar for every duration of the configuration (frequencies, timeouts, `keep.within`): a
/// sequence of NUMBER UNIT from the largest unit down, with `y` years, `mo` months, `w` weeks, `d` days,
/// `h` hours, `m` minutes and `s` seconds (`1h30m`, `2w`, `1y6mo`); a plain number is seconds. Years and
/// months are calendar lengths, counted in the local calendar.
public struct TimeSpan: Sendable, Hashable, CustomStringConvertible {
    public var years = 0, months = 0, weeks = 0, days = 0, hours = 0, minutes = 0, seconds = 0

    public init(years: Int = 0, months: Int = 0, weeks: Int = 0, days: Int = 0, hours: Int = 0, minutes: Int = 0, seconds: Int = 0) {
        (self.years, self.months, self.weeks, self.days, self.hours, self.minutes, self.seconds)
            = (years, months, weeks, days, hours, minutes, seconds)
    }

    public static let units = ["y", "mo", "w", "d", "h", "m", "s"]
    public static let grammar = "a duration such as 90s, 30m, 6h, 2d, 1w or 1y6mo (y, mo, w, d, h, m, s)"

    public static func parse(_ text: String) -> TimeSpan? {
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let seconds = Int(value) { return seconds >= 0 ? TimeSpan(seconds: seconds) : nil }
        var span = TimeSpan()
        var rest = Substring(value)
        var lastUnit = -1
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard let amount = Int(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let letters = rest.prefix { $0.isLetter }
            guard let unit = units.firstIndex(of: String(letters)), unit > lastUnit else { return nil }
            rest = rest.dropFirst(letters.count)
            lastUnit = unit
            switch unit {
            case 0: span.years = amount
            case 1: span.months = amount
            case 2: span.weeks = amount
            case 3: span.days = amount
            case 4: span.hours = amount
            case 5: span.minutes = amount
            default: span.seconds = amount
            }
        }
        return lastUnit >= 0 ? span : nil
    }

    /// Seconds, when the span has a fixed length (no years or months).
    public var fixedSeconds: Int? {
        guard years == 0 && months == 0 else { return nil }
        let (total, overflow) = weeks.multipliedReportingOverflow(by: 604_800)
        guard !overflow else { return nil }
        return total + days * 86_400 + hours * 3_600 + minutes * 60 + seconds
    }

    public var isZero: Bool { self == TimeSpan() }

    /// `date` moved back by the span, in `calendar` (an impossible date rolls over, as Go's AddDate does).
    public func before(_ date: Date, calendar: Calendar) -> Date {
        var parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond], from: date)
        parts.year! -= years
        parts.month! -= months
        parts.day! -= weeks * 7 + days
        // Before the calendar's first year (`within_yearly: 9999y`): as far back as dates go.
        let moved = calendar.date(from: parts) ?? .distantPast
        return moved.addingTimeInterval(-Double(hours * 3_600 + minutes * 60 + seconds))
    }

    /// `date` moved forward by the span.
    public func after(_ date: Date, calendar: Calendar) -> Date {
        var parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond], from: date)
        parts.year! += years
        parts.month! += months
        parts.day! += weeks * 7 + days
        let moved = calendar.date(from: parts) ?? .distantFuture
        return moved.addingTimeInterval(Double(hours * 3_600 + minutes * 60 + seconds))
    }

    /// The canonical spelling (`1h30m`), as the configuration would write it.
    public var description: String {
        let parts = [(years, "y"), (months, "mo"), (weeks, "w"), (days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
        let text = parts.filter { $0.0 > 0 }.map { "\($0.0)\($0.1)" }.joined()
        return text.isEmpty ? "0s" : text
    }

    /// A number of seconds in the same spelling (`5400` → `1h30m`).
    public static func format(seconds: Int) -> String {
        guard seconds > 0 else { return "0s" }
        var rest = seconds
        var span = TimeSpan()
        span.days = rest / 86_400
        rest %= 86_400
        span.hours = rest / 3_600
        rest %= 3_600
        span.minutes = rest / 60
        span.seconds = rest % 60
        return span.description
    }
}
