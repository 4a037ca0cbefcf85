/// A `keep:` policy, with the meaning of restic's `forget`: counts of the newest backups per calendar
/// bucket (hour, day, week, month, year), the last N, and everything within a duration.
public struct Retention: Sendable, Equatable, CustomStringConvertible {
    public var last: Int?
    public var hourly: Int?
    public var daily: Int?
    public var weekly: Int?
    public var monthly: Int?
    public var yearly: Int?
    /// `within: 1y6m2d` as years, months, days, hours.
    public var within: Within?

    public struct Within: Sendable, Equatable, CustomStringConvertible {
        public var years = 0, months = 0, days = 0, hours = 0

        public var description: String {
            [(years, "y"), (months, "m"), (days, "d"), (hours, "h")].filter { $0.0 > 0 }.map { "\($0.0)\($0.1)" }.joined()
        }

        /// restic's syntax: a sequence of numbers with y, m, d or h.
        static func parse(_ text: String) -> Within? {
            var within = Within()
            var number = ""
            var any = false
            for character in text.lowercased() {
                if character.isASCII && character.isNumber { number.append(character); continue }
                guard let value = Int(number) else { return nil }
                switch character {
                case "y": within.years += value
                case "m": within.months += value
                case "d": within.days += value
                case "h": within.hours += value
                default: return nil
                }
                number = ""
                any = true
            }
            return any && number.isEmpty ? within : nil
        }
    }

    static let countKeys = ["last", "hourly", "daily", "weekly", "monthly", "yearly"]
    static let keys = countKeys + ["within"]

    public init() {}

    public var isEmpty: Bool { self == Retention() }

    mutating func set(_ key: String, _ count: Int) {
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

    public var description: String {
        let counts: [(String, Int?)] = [("last", last), ("hourly", hourly), ("daily", daily), ("weekly", weekly),
                                         ("monthly", monthly), ("yearly", yearly)]
        var parts = counts.compactMap { name, count in count.map { "\(name): \($0)" } }
        if let within { parts.append("within: \(within)") }
        return "{" + parts.joined(separator: ", ") + "}"
    }
}
