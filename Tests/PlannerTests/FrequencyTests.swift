import Foundation
import Stages
import Testing
@testable import Planner

@Suite struct FrequencyTests {
    static let paris: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Paris")!
        return calendar
    }()

    func date(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0) -> Date {
        Self.paris.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))!
    }

    @Test func parsesEveryForm() throws {
        #expect(try Frequency.parse("always") == .always)
        #expect(try Frequency.parse("hourly") == .hourly)
        #expect(try Frequency.parse("daily") == .daily(hour: 0, minute: 0))
        #expect(try Frequency.parse("daily@02:30") == .daily(hour: 2, minute: 30))
        #expect(try Frequency.parse("daily:3") == .daily(hour: 3, minute: 0))
        #expect(try Frequency.parse("weekly") == .weekly(weekday: 1))
        #expect(try Frequency.parse("weekly@sun") == .weekly(weekday: 7))
        #expect(try Frequency.parse("weekly@friday") == .weekly(weekday: 5))
        #expect(try Frequency.parse("weekly:0") == .weekly(weekday: 1))
        #expect(try Frequency.parse("weekly:6") == .weekly(weekday: 7))
        #expect(try Frequency.parse("monthly") == .monthly(day: 1))
        #expect(try Frequency.parse("monthly@28") == .monthly(day: 28))
        #expect(try Frequency.parse("monthly:5") == .monthly(day: 5))
        #expect(try Frequency.parse("30m") == .every(TimeSpan(minutes: 30)))
        #expect(try Frequency.parse("6h") == .every(TimeSpan(hours: 6)))
        #expect(try Frequency.parse("2d") == .every(TimeSpan(days: 2)))
        #expect(try Frequency.parse("1h30m") == .every(TimeSpan(hours: 1, minutes: 30)))
        #expect(try Frequency.parse("3600") == .every(TimeSpan(seconds: 3600)))
    }

    @Test(arguments: ["daily@24:00", "daily@2:60", "daily:24", "monthly@29", "monthly@0", "monthly:0", "weekly@funday",
                      "weekly:7", "0", "-5", "hourly@3", "often", "6x", "30m6h"])
    func rejectsInvalidValues(_ text: String) {
        #expect(throws: Frequency.ParseError.self) { try Frequency.parse(text) }
    }

    @Test func dailyCronAtAFixedTimeNeverSkipsADay() {
        // A cron job at 02:30 with up to a minute of jitter, whose run takes up to 20 minutes and records its
        // success at the end, over 400 days across both DST changes: due every single day.
        let frequency = Frequency.daily(hour: 2, minute: 30)
        var lastSuccess: Date?
        var generator = SystemRandomNumberGenerator()
        for offset in 0..<400 {
            let day = Self.paris.date(byAdding: .day, value: offset, to: date(2026, 1, 1))!
            let components = Self.paris.dateComponents([.year, .month, .day], from: day)
            let start = date(components.year!, components.month!, components.day!, 2, 31)
                .addingTimeInterval(Double.random(in: 0..<60, using: &generator))
            #expect(frequency.isDue(lastSuccess: lastSuccess, now: start, calendar: Self.paris), "skipped \(start)")
            lastSuccess = start.addingTimeInterval(Double.random(in: 0..<1200, using: &generator))
            // A second run the same day is not due.
            #expect(!frequency.isDue(lastSuccess: lastSuccess, now: start.addingTimeInterval(3 * 3600), calendar: Self.paris))
        }
    }

    @Test func dailyBoundaryInsideTheSpringDSTGapMovesToTheNextValidTime() {
        // 2026-03-29 in Paris: 02:00 → 03:00, so 02:30 does not exist.
        let frequency = Frequency.daily(hour: 2, minute: 30)
        let last = date(2026, 3, 28, 2, 31)
        #expect(!frequency.isDue(lastSuccess: last, now: date(2026, 3, 29, 1, 59), calendar: Self.paris))
        #expect(frequency.isDue(lastSuccess: last, now: date(2026, 3, 29, 3, 5), calendar: Self.paris))
    }

    @Test func dailyBoundaryInTheRepeatedAutumnHourCountsOnce() {
        // 2026-10-25 in Paris: 03:00 → 02:00, so 02:30 happens twice (first at 00:30 UTC, then 01:30 UTC).
        let frequency = Frequency.daily(hour: 2, minute: 30)
        let firstOccurrence = Date(timeIntervalSince1970: 1_792_895_400)  // 2026-10-25T00:30:00Z
        let last = date(2026, 10, 24, 2, 35)
        #expect(frequency.isDue(lastSuccess: last, now: firstOccurrence.addingTimeInterval(60), calendar: Self.paris))
        let ranAtFirst = firstOccurrence.addingTimeInterval(120)
        #expect(!frequency.isDue(lastSuccess: ranAtFirst, now: firstOccurrence.addingTimeInterval(3600 + 60), calendar: Self.paris))
    }

    @Test func monthlyAcrossMonthEnds() {
        let frequency = Frequency.monthly(day: 28)
        #expect(!frequency.isDue(lastSuccess: date(2026, 1, 28, 0, 5), now: date(2026, 2, 27, 23, 59), calendar: Self.paris))
        #expect(frequency.isDue(lastSuccess: date(2026, 1, 28, 0, 5), now: date(2026, 2, 28, 0, 1), calendar: Self.paris))
        let first = Frequency.monthly(day: 1)
        #expect(!first.isDue(lastSuccess: date(2026, 1, 1, 3), now: date(2026, 1, 31, 23), calendar: Self.paris))
        #expect(first.isDue(lastSuccess: date(2026, 1, 1, 3), now: date(2026, 2, 1, 0, 0, 1), calendar: Self.paris))
        #expect(first.isDue(lastSuccess: date(2025, 12, 31, 23), now: date(2026, 1, 1, 0, 30), calendar: Self.paris))
    }

    @Test func weeklyOnMonday() {
        let frequency = Frequency.weekly(weekday: 1)
        let monday = date(2026, 3, 2, 0, 10)
        #expect(!frequency.isDue(lastSuccess: monday, now: date(2026, 3, 8, 23, 59), calendar: Self.paris))
        #expect(frequency.isDue(lastSuccess: monday, now: date(2026, 3, 9, 0, 1), calendar: Self.paris))
        #expect(frequency.nextDue(lastSuccess: monday, now: date(2026, 3, 4), calendar: Self.paris) == date(2026, 3, 9))
    }

    @Test func hourlyBoundaries() {
        let frequency = Frequency.hourly
        #expect(!frequency.isDue(lastSuccess: date(2026, 5, 1, 10, 0, 30), now: date(2026, 5, 1, 10, 59), calendar: Self.paris))
        #expect(frequency.isDue(lastSuccess: date(2026, 5, 1, 10, 0, 30), now: date(2026, 5, 1, 11, 0, 1), calendar: Self.paris))
    }

    @Test func durationsAllowOnePercentOfJitter() {
        let frequency = Frequency.every(TimeSpan(hours: 6))
        let now = date(2026, 5, 1, 12)
        #expect(frequency.isDue(lastSuccess: now.addingTimeInterval(-6 * 3600 + 60), now: now))
        #expect(!frequency.isDue(lastSuccess: now.addingTimeInterval(-5 * 3600), now: now))
        #expect(frequency.isDue(lastSuccess: nil, now: now))
        #expect(Frequency.always.isDue(lastSuccess: now, now: now))
    }
}
