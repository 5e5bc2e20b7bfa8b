@testable import LedgerCore
import Testing

/// The writers that serve large answers straight as canonical bytes give the bytes the `JSON`
/// values of the same answer would.
@Suite("Serving bytes")
struct ServingBytesTests {
    /// Placement rows of a demo history's final states: every status, with and without ratings,
    /// deliveries and payments.
    static let rows: [PlacementRow] = {
        let (_, states) = ReportSummaryTests.summaryByBatches(ReportSummaryTests.recorded(postings: 30, seed: 9), size: 100)
        return states.values.flatMap { posting in posting.students.keys.sorted().compactMap { PlacementRow(posting: posting, studentID: $0) } }
            .sorted { ($0.postingID, $0.studentID) < ($1.postingID, $1.studentID) }
    }()

    @Test("placements written as canonical bytes equal their JSON objects")
    func placementBytes() {
        let rows = Self.rows
        #expect(rows.count > 20)
        #expect(rows.contains { $0.rating == nil } && rows.contains { $0.rating != nil })
        #expect(rows.contains { $0.lastPaidAt == nil } && rows.contains { $0.lastPaidAt != nil })
        #expect(rows.contains { $0.deliveredAt == nil } && rows.contains { $0.deliveredAt != nil })
        #expect(rows.contains { $0.settled } && rows.contains { !$0.settled })
        #expect(PlacementRow.jsonArray(rows).canonicalString == JSON.array(rows.map(\.json)).canonicalString)
        #expect(PlacementRow.jsonArray([]).canonicalString == "[]")
        // A title that needs escapes.
        var odd = rows[0]
        odd.title = "Quote \" backslash \\ tab \t é"
        #expect(PlacementRow.jsonArray([odd]).canonicalString == JSON.array([odd.json]).canonicalString)
    }

    /// A line as `OpenBalances.lineSQL` has PostgreSQL write it.
    static func line(_ row: PlacementRow) -> String {
        [row.postingID, row.studentID, row.currency, String(row.earnedMinor), String(row.paidMinor), String(row.balanceMinor),
            String(row.selectedAt.microseconds)].joined(separator: " ")
    }

    static func object(_ row: PlacementRow) -> JSON {
        .object([
            "posting_id": .string(row.postingID), "student_id": .string(row.studentID), "currency": .string(row.currency),
            "earned_minor": .int(row.earnedMinor), "paid_minor": .int(row.paidMinor), "balance_minor": .int(row.balanceMinor),
            "selected_at": .string(row.selectedAt.rfc3339),
        ])
    }

    static func write(_ text: String) throws -> [UInt8] {
        var out: [UInt8] = []
        try Array(text.utf8).withUnsafeBytes { try OpenBalances.write(lines: $0, into: &out) }
        return out
    }

    @Test("open balances from PostgreSQL's lines equal the objects of their fields")
    func openBalanceBytes() throws {
        var rows = Array(Self.rows.prefix(40))
        rows[0].balanceMinor = -1_250  // overpaid
        rows[1].selectedAt = Timestamp(microseconds: -1_234_567)  // before 1970
        rows[2].earnedMinor = 0
        rows[3].selectedAt = Timestamp(microseconds: 1_767_225_600_000_000)  // a whole second
        let text = rows.map(Self.line).joined(separator: "\n")
        #expect(String(decoding: try Self.write(text), as: UTF8.self) == JSON.array(rows.map(Self.object)).canonicalString)
        #expect(try Self.write(Self.line(rows[0])) == JSON.array([Self.object(rows[0])]).canonicalBytes)
        #expect(String(decoding: try Self.write(""), as: UTF8.self) == "[]")
    }

    @Test(
        "a line that is not seven fields of the expected kinds is refused",
        arguments: [
            "p-1 s-1 USD 1 2 3", "p-1 s-1 USD 1 2 3 4 5", "p-1 s-1 USD 1 x 3 4", "p-1 s-1 USD 01 2 3 4", "p-1 s-1 USD -0 2 3 4",
            "p-1 s-1 USD 1 2 3 99999999999999999999", "p-1  USD 1 2 3 4", "p-1 s-1 USD 1 2 3 4 ", "p-1 s-1 USD 1 2 3 4\np-2 s-1 USD 1 2 3",
        ])
    func malformedLines(text: String) {
        #expect(throws: OpenBalances.Malformed.self) { try Self.write(text) }
    }

    @Test(
        "integers are read only in canonical decimal form",
        arguments: [
            ("0", 0), ("7", 7), ("-12", -12), ("9223372036854775807", Int64.max), ("-9223372036854775808", Int64.min),
            ("9223372036854775808", nil), ("-9223372036854775809", nil), ("", nil), ("-", nil), ("00", nil), ("-0", nil),
            ("+1", nil), ("1a", nil), (" 1", nil), ("012", nil),
        ] as [(String, Int64?)])
    func canonicalDecimal(text: String, value: Int64?) {
        #expect(Array(text.utf8).withUnsafeBytes { Int64(canonicalDecimal: $0) } == value)
    }

    @Test("report figures come back from the text of their array, and only from exactly one integer per column")
    func figuresFromText() {
        let figures = ReportFigures(
            applicants: 3, placed: 2, accepted: 1, withdrawn: 0, minutesLogged: 95, ratingSum: 4, ratings: 1, capMinor: 50_000,
            earnedMinor: -20, paidMinor: 9_223_372_036_854_775_807, balanceMinor: -9_223_372_036_854_775_808, payments: 2, reversals: 1)
        #expect(ReportFigures(text: figures.values.map(String.init).joined(separator: " ")) == figures)
        let twelve = figures.values.dropLast().map(String.init)
        #expect(ReportFigures(text: twelve.joined(separator: " ")) == nil)
        #expect(ReportFigures(text: (twelve + ["1", "2"]).joined(separator: " ")) == nil)
        #expect(ReportFigures(text: (twelve + [""]).joined(separator: " ")) == nil)
        #expect(ReportFigures(text: (twelve + ["x"]).joined(separator: " ")) == nil)
        #expect(ReportFigures(text: "") == nil)
    }
}
