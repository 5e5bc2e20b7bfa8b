@testable import LedgerCore
import Testing

/// An independent, deliberately naive day count (loops over years and months) to check
/// `CivilDate.daysSinceEpoch` against.
private func naiveDaysSinceEpoch(year: Int, month: Int, day: Int) -> Int64 {
    func leap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }
    let monthLengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    var days: Int64 = 0
    if year >= 1970 {
        for y in 1970..<year { days += leap(y) ? 366 : 365 }
    } else {
        for y in year..<1970 { days -= leap(y) ? 366 : 365 }
    }
    for m in 1..<month { days += Int64(monthLengths[m - 1] + (m == 2 && leap(year) ? 1 : 0)) }
    return days + Int64(day - 1)
}

private func ts(_ text: String) -> Timestamp? { Timestamp(rfc3339: text) }

@Suite("Timestamp and CivilDate")
struct TimestampTests {
    // MARK: Parsing

    @Test func parsesUTCWithZ() throws {
        // 2026-03-02T17:30:00Z = 1_772_472_600 s since the epoch (2026-01-01 is 1_767_225_600; + 60 days + 17.5 h).
        let t = try #require(ts("2026-03-02T17:30:00Z"))
        #expect(t.microseconds == 1_772_472_600 * 1_000_000)
        #expect(ts("1970-01-01T00:00:00Z")?.microseconds == 0)
        #expect(ts("2000-01-01T00:00:00Z")?.microseconds == 946_684_800_000_000)
    }

    @Test func lowercaseSeparatorsAreAccepted() {
        // RFC 3339 §5.6 allows "t" and "z".
        #expect(ts("2026-03-02t17:30:00z") == ts("2026-03-02T17:30:00Z"))
    }

    @Test(arguments: [
        "2026-03-02T18:30:00+01:00", "2026-03-02T12:00:00-05:30", "2026-03-03T00:30:00+07:00",
        "2026-03-02T17:30:00+00:00", "2026-03-02T17:30:00-00:00", "2026-03-01T17:31:00-23:59",
        "2026-03-03T17:29:00+23:59",
    ])
    func offsetsAreNormalisedToUTC(_ text: String) throws {
        let t = try #require(ts(text))
        #expect(t == ts("2026-03-02T17:30:00Z"))
        #expect(t.rfc3339 == "2026-03-02T17:30:00Z")
    }

    @Test(arguments: [
        ("2026-03-02T17:30:00.5Z", 500_000), ("2026-03-02T17:30:00.05Z", 50_000), ("2026-03-02T17:30:00.123456Z", 123_456),
        ("2026-03-02T17:30:00.000001Z", 1), ("2026-03-02T17:30:00.000000Z", 0), ("2026-03-02T17:30:00.999999Z", 999_999),
        ("2026-03-02T18:30:00.25+01:00", 250_000),
    ] as [(String, Int64)])
    func fractionalSecondsUpToSixDigits(_ text: String, micros: Int64) throws {
        let t = try #require(ts(text))
        #expect(t.microseconds == 1_772_472_600 * 1_000_000 + micros)
    }

    @Test(arguments: [
        "2026-03-02T17:30:00.1234567Z", "2026-03-02T17:30:00.0000000Z", "2026-03-02T17:30:00.Z",
        "2026-03-02T17:30:00.+01:00", "2026-03-02T17:30:00.12a3Z",
    ])
    func moreThanSixFractionDigitsOrNoneAreRejected(_ text: String) {
        #expect(ts(text) == nil)
    }

    @Test(arguments: [
        "2026-02-30T00:00:00Z", "2026-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z",
        "2026-03-02T24:00:00Z", "2026-03-02T23:60:00Z", "2026-03-02T23:59:60Z", "0000-01-01T00:00:00Z",
    ])
    func invalidDatesAndTimesAreRejected(_ text: String) {
        #expect(ts(text) == nil)
    }

    @Test(arguments: [
        "2026-03-02T17:30:00", "2026-03-02T17:30:00.5", "2026-03-02", "2026-03-02T17:30Z", "2026-03-02T17:30:00+0100",
        "2026-03-02T17:30:00+01", "2026-03-02T17:30:00+1:00", "2026-03-02T17:30:00+24:00", "2026-03-02T17:30:00+01:60",
        "2026-03-02T17:30:00UTC", "2026-03-02T17:30:00 Z", "2026-03-02T17:30:00Zx", "2026-03-02T17:30:00+01:00x",
        "2026-3-02T17:30:00Z", "2026-03-2T17:30:00Z", "2026/03/02T17:30:00Z", "2026-03-02X17:30:00Z",
        "2026-03-02T17-30-00Z", " 2026-03-02T17:30:00Z", "+2026-03-02T17:30:00Z", "", "Z",
    ])
    func malformedTextIsRejected(_ text: String) {
        #expect(ts(text) == nil)
    }

    // MARK: Formatting

    @Test func formatsWithoutFractionWhenZero() {
        #expect(Timestamp(microseconds: 0).rfc3339 == "1970-01-01T00:00:00Z")
        #expect(Timestamp(microseconds: 1_772_472_600_000_000).rfc3339 == "2026-03-02T17:30:00Z")
        #expect(Timestamp(microseconds: 1_772_472_600_000_000).description == "2026-03-02T17:30:00Z")
    }

    @Test func formatsSixFractionDigitsOtherwise() {
        #expect(Timestamp(microseconds: 1).rfc3339 == "1970-01-01T00:00:00.000001Z")
        #expect(Timestamp(microseconds: 500_000).rfc3339 == "1970-01-01T00:00:00.500000Z")
        #expect(Timestamp(microseconds: 86_399_999_999).rfc3339 == "1970-01-01T23:59:59.999999Z")
    }

    @Test func formatsTheEndsOfTheRange() {
        #expect(Timestamp(microseconds: Timestamp.range.lowerBound).rfc3339 == "0001-01-01T00:00:00Z")
        #expect(Timestamp(microseconds: Timestamp.range.upperBound).rfc3339 == "9999-12-31T23:59:59.999999Z")
        // Past year 9999 (a month bound computed from the last month): all the year's digits.
        #expect(Timestamp(microseconds: Timestamp.range.upperBound + 1).rfc3339 == "10000-01-01T00:00:00Z")
        // Every formatted time parses back to itself.
        for micros: Int64 in [-62_135_596_800_000_000, -1, 0, 951_782_400_000_000, 1_772_472_600_123_456, 253_402_300_799_999_999] {
            #expect(ts(Timestamp(microseconds: micros).rfc3339)?.microseconds == micros)
        }
    }

    @Test func valuesBefore1970() {
        #expect(Timestamp(microseconds: -1).rfc3339 == "1969-12-31T23:59:59.999999Z")
        #expect(Timestamp(microseconds: -1_000_000).rfc3339 == "1969-12-31T23:59:59Z")
        #expect(Timestamp(microseconds: -86_400_000_000).rfc3339 == "1969-12-31T00:00:00Z")
        #expect(Timestamp(microseconds: -86_400_000_001).rfc3339 == "1969-12-30T23:59:59.999999Z")
        #expect(ts("1969-12-31T23:59:59.999999Z")?.microseconds == -1)
        // 1900-01-01 is 2_208_988_800 s before the epoch (the NTP era offset).
        #expect(ts("1900-01-01T00:00:00Z")?.microseconds == -2_208_988_800_000_000)
        #expect(ts("1970-01-01T00:30:00+01:00")?.microseconds == -1_800_000_000)
    }

    @Test(arguments: [
        "0001-01-01T00:00:00Z", "1600-02-29T12:00:00Z", "1969-07-20T20:17:40Z", "1999-12-31T23:59:59.999999Z",
        "2024-02-29T00:00:00.000001Z", "2038-01-19T03:14:08Z", "9999-12-31T23:59:59.999999Z",
    ])
    func formatParseRoundTrip(_ text: String) throws {
        let t = try #require(ts(text))
        #expect(t.rfc3339 == text)
        #expect(ts(t.rfc3339) == t)
    }

    /// Whatever the parser accepts, the normalised UTC text it produces must parse back to the same
    /// instant: the ledger stores, serves and exports that text, and `import` and replays read it again.
    @Test(arguments: [
        "2026-03-02T18:30:00+01:00", "2026-01-01T00:30:00+01:00", "1970-01-01T00:30:00+01:00",
        "0001-01-01T12:00:00+01:00", "9999-12-31T12:00:00-01:00",
    ])
    func normalisedFormOfEveryAcceptedTimeParsesBack(_ text: String) throws {
        let t = try #require(ts(text))
        #expect(ts(t.rfc3339) == t, "\(text) is accepted but its normalised form \(t.rfc3339) is not")
    }

    /// Offsets that move the instant out of the years 0001–9999 once normalised to UTC have no
    /// normalised form, so they are refused rather than stored as text nothing can read back.
    @Test(arguments: ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"])
    func instantsOutsideTheYearsOneToNineThousandNineHundredNinetyNineAreRejected(_ text: String) {
        #expect(ts(text) == nil)
    }

    @Test func roundTripAcrossManyInstants() throws {
        var micros: Int64 = -5_000_000_000_000_000
        while micros < 5_000_000_000_000_000 {
            let t = Timestamp(microseconds: micros)
            #expect(Timestamp(rfc3339: t.rfc3339) == t, "\(micros)")
            micros += 123_456_789_012_345
        }
    }

    @Test func monthIsTheUTCMonth() throws {
        #expect(ts("2026-03-02T17:30:00Z")?.month == "2026-03")
        // 23:30 at -01:00 on March 31st is already April in UTC.
        #expect(ts("2026-03-31T23:30:00-01:00")?.month == "2026-04")
        // 00:30 at +01:00 on January 1st is still December in UTC.
        #expect(ts("2026-01-01T00:30:00+01:00")?.month == "2025-12")
        #expect(Timestamp(microseconds: -1).month == "1969-12")
    }

    @Test func orderingAndArithmetic() throws {
        let a = try #require(ts("2026-03-02T17:30:00Z"))
        let b = try #require(ts("2026-03-02T17:30:00.000001Z"))
        #expect(a < b)
        #expect(!(b < a))
        #expect(a.adding(seconds: 300) == ts("2026-03-02T17:35:00Z"))
        #expect(a.adding(seconds: -86_400) == ts("2026-03-01T17:30:00Z"))
    }

    // MARK: CivilDate

    @Test(arguments: [
        (2024, 2, 29, true), (2023, 2, 29, false), (1900, 2, 29, false), (2000, 2, 29, true), (2100, 2, 29, false),
        (2400, 2, 29, true), (2023, 2, 28, true), (2026, 4, 30, true), (2026, 4, 31, false), (2026, 6, 31, false),
        (2026, 9, 31, false), (2026, 11, 31, false), (2026, 12, 31, true), (2026, 1, 31, true), (2026, 0, 1, false),
        (2026, 13, 1, false), (2026, 1, 0, false), (2026, 1, 32, false), (0, 1, 1, false), (1, 1, 1, true),
        (9999, 12, 31, true), (10000, 1, 1, false), (-1, 1, 1, false),
    ])
    func civilDateValidity(year: Int, month: Int, day: Int, valid: Bool) {
        let date = CivilDate(year: year, month: month, day: day)
        #expect((date != nil) == valid, "\(year)-\(month)-\(day)")
        if let date {
            #expect(date.year == year && date.month == month && date.day == day)
        }
    }

    @Test func isoParsing() throws {
        let d = try #require(CivilDate(iso: "2024-02-29"))
        #expect(d.year == 2024 && d.month == 2 && d.day == 29)
        #expect(d.description == "2024-02-29")
        #expect(CivilDate(iso: "0042-01-05")?.description == "0042-01-05")
        for bad in [
            "2023-02-29", "1900-02-29", "2024-2-29", "2024-02-9", "2024/02/29", "20240229", "2024-02-29T", " 2024-02-29",
            "2024-02-2x", "", "2024-13-01", "2024-00-01", "+024-02-01", "-024-02-01",
        ] {
            #expect(CivilDate(iso: bad) == nil, "\(bad)")
        }
    }

    @Test func knownDaysSinceEpoch() throws {
        #expect(CivilDate(year: 1970, month: 1, day: 1)?.daysSinceEpoch == 0)
        #expect(CivilDate(year: 1969, month: 12, day: 31)?.daysSinceEpoch == -1)
        #expect(CivilDate(year: 2000, month: 1, day: 1)?.daysSinceEpoch == 10_957)
        // 2024-02-29T00:00:00Z = 1_709_164_800 s = 19_782 days.
        #expect(CivilDate(year: 2024, month: 2, day: 29)?.daysSinceEpoch == 19_782)
        #expect(CivilDate(year: 2024, month: 3, day: 1)?.daysSinceEpoch == 19_783)
    }

    @Test(arguments: [(1, 1, 1), (1600, 3, 1), (1899, 12, 31), (1900, 3, 1), (1969, 1, 1), (1972, 2, 29), (2000, 2, 29),
                      (2026, 3, 2), (2100, 3, 1), (9999, 12, 31)])
    func daysSinceEpochMatchesANaiveCount(year: Int, month: Int, day: Int) throws {
        let date = try #require(CivilDate(year: year, month: month, day: day))
        #expect(date.daysSinceEpoch == naiveDaysSinceEpoch(year: year, month: month, day: day))
    }

    @Test func daysSinceEpochRoundTripsAndIsContiguous() throws {
        // Every day from 1600-01-01 to 2400-12-31: converting back and forth is the identity, and each
        // day is the day after the previous one.
        let first = try #require(CivilDate(year: 1600, month: 1, day: 1)).daysSinceEpoch
        let last = try #require(CivilDate(year: 2400, month: 12, day: 31)).daysSinceEpoch
        var previous = CivilDate(daysSinceEpoch: first - 1)
        #expect(previous.description == "1599-12-31")
        var failures = 0
        for z in first...last {
            let date = CivilDate(daysSinceEpoch: z)
            let rebuilt = CivilDate(year: date.year, month: date.month, day: date.day)
            let ok =
                date.daysSinceEpoch == z && rebuilt == date && previous < date
                && ((date.year == previous.year && date.month == previous.month && date.day == previous.day + 1)
                    || (date.day == 1 && CivilDate(year: previous.year, month: previous.month, day: previous.day + 1) == nil))
            if !ok { failures += 1 }
            previous = date
        }
        #expect(failures == 0)
        #expect(last - first + 1 == 801 * 365 + 195, "801 years with 195 leap days")
    }

    @Test func civilDateOrdering() throws {
        let a = try #require(CivilDate(iso: "2026-03-02"))
        let b = try #require(CivilDate(iso: "2026-03-10"))
        let c = try #require(CivilDate(iso: "2027-01-01"))
        #expect(a < b && b < c && a < c)
        #expect(!(b < a))
    }
}
