import LedgerCore
@testable import LedgerProjections
@testable import LedgerStore
import Testing

@Suite("Changed rows of a group")
struct ChangedRowsTests {
    static func recorded(_ events: [Event]) -> [RecordedEvent] {
        events.enumerated().map { RecordedEvent(event: $1, position: Int64($0 + 1), version: Int64($0 + 1), recordedAt: $1.occurredAt, prevHash: [], hash: []) }
    }

    @Test("a group writes only the rows it changed: a new posting its row; an hour logged its placement and the summary, not the posting")
    func onlyChangedTables() throws {
        var e = Events("p-rows")
        let setup = [e.posted(stipend: .hourly(rateMinor: 6_000, maxHours: 10, currency: "USD")), e.applied("s-1"), e.selected("s-1")]
        let posted = ChangedRows(FoldChanges.fold(Self.recorded(Array(setup.prefix(1))), states: [:]))
        #expect(posted.postings.count == 1)
        #expect(posted.placements.isEmpty && posted.applications.isEmpty && posted.payments.isEmpty && posted.summaryKeys.isEmpty)

        let before = FoldChanges.fold(Self.recorded(setup), states: [:]).postings
        let hours = e.make(.hoursLogged(studentID: "s-1", minutes: 30, workDate: CivilDate(iso: "2026-03-02")!, note: nil, reason: nil))
        let logged = ChangedRows(FoldChanges.fold(Self.recorded([hours]), states: before))
        #expect(logged.postings.isEmpty, "the posting's row does not change with an hour logged")
        #expect(logged.placements.map(\.minutesLogged) == [30])
        #expect(logged.applications.isEmpty && logged.payments.isEmpty)
        #expect(logged.summaryKeys.count == 1)

        // The history: the hour's earned line and the summary's change, at the event's recorded time.
        #expect(posted.lines.isEmpty && posted.changes.isEmpty)
        #expect(logged.lines.map(\.line.kind) == [.earned] && logged.lines.map(\.line.amountMinor) == [logged.placements[0].earnedMinor])
        #expect(logged.changes.map(\.0.key) == logged.summaryKeys)
        // An append group (one recorded time) takes the summary's change from the group's delta:
        // the same rows as the change worked out event by event.
        let group = FoldChanges(before: before, after: FoldChanges.fold(Self.recorded([hours]), states: before).postings, records: Self.recorded([hours]))
        #expect(group.history.groupRecordedAt == hours.occurredAt && group.history.deltas.isEmpty)
        let fromGroup = ChangedRows(group).changes
        #expect(fromGroup.map(\.0) == logged.changes.map(\.0) && fromGroup.map(\.1) == logged.changes.map(\.1))

        // The statement variant names the tables it writes, in order: postings, placements,
        // applications, payments, report_months, lines, report_changes.
        #expect(type(of: InlineSQL.rows(logged)).name.hasSuffix("_0100111"))
        #expect(type(of: InlineSQL.rows(posted)).name.hasSuffix("_1000000"))
        // PostgreSQL cuts a prepared statement's name at 63 bytes: variants must not be cut to one name.
        func statementName<R: ReadModelRows>(_: R) -> String { WriteEvents<R>.name }
        let all = InlineRows<Written, Written, Written, Written, Written, Written, Written>(rows: logged)
        #expect(statementName(all).utf8.count <= 63, "\(statementName(all))")
        #expect(type(of: InlineSQL.rows(posted)).ctes.contains("postings_rows"))
        #expect(!type(of: InlineSQL.rows(posted)).ctes.contains("placements_rows"))
    }
}
