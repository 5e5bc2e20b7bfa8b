@testable import LedgerCore
import Testing

@Suite("Report summary")
struct ReportSummaryTests {
    static func micros(_ text: String) -> Int64 { Timestamp(rfc3339: text)!.microseconds }

    /// A demo history as recorded events, in order.
    static func recorded(postings: Int, seed: UInt64) -> [RecordedEvent] {
        Array(DemoHistory(postings: postings, seed: seed)).enumerated().map { i, event in
            RecordedEvent(event: event, position: Int64(i + 1), version: 0, recordedAt: event.occurredAt, prevHash: [], hash: [])
        }
    }

    /// Folds `events` in batches of `size`, adding up each batch's delta, as the projection does.
    static func summaryByBatches(_ events: [RecordedEvent], size: Int) -> (summary: [ReportKey: ReportFigures], states: [String: PostingState]) {
        var states: [String: PostingState] = [:]
        var summary: [ReportKey: ReportFigures] = [:]
        var start = 0
        while start < events.count {
            let batch = Array(events[start..<min(start + size, events.count)])
            let touched = Set(batch.map(\.event.postingID))
            let changes = FoldChanges.fold(batch, states: states.filter { touched.contains($0.key) })
            for (key, figures) in ReportSummary.delta(changes) { summary[key, default: ReportFigures()] += figures }
            states.merge(changes.postings) { $1 }
            start += size
        }
        return (summary, states)
    }

    @Test("the deltas of any batching add up to the summary of the final states", arguments: [1, 7, 100, 100_000])
    func deltasAddUp(batchSize: Int) {
        let events = Self.recorded(postings: 40, seed: 11)
        let (summary, states) = Self.summaryByBatches(events, size: batchSize)
        let whole = ReportSummary.of(states.values)
        #expect(!whole.isEmpty)
        #expect(summary == whole)
        // Payments and reversals reached the summary (the history has both).
        let totals = whole.values.reduce(ReportFigures(), +)
        #expect(totals.payments > 0 && totals.reversals > 0 && totals.withdrawn > 0 && totals.ratings > 0)
    }

    @Test("the summary's totals equal the sums over the placement rows")
    func summaryEqualsRows() {
        let (_, states) = Self.summaryByBatches(Self.recorded(postings: 30, seed: 5), size: 50)
        let summary = ReportSummary.of(states.values)
        var rows: [PlacementRow] = []
        var applications = 0
        var payments: [PaymentRow] = []
        for posting in states.values {
            for student in posting.students.keys {
                applications += 1
                if let row = PlacementRow(posting: posting, studentID: student) { rows.append(row) }
                payments += PaymentRow.rows(posting: posting, studentID: student)
            }
        }
        let totals = summary.values.reduce(ReportFigures(), +)
        #expect(totals.applicants == Int64(applications))
        #expect(totals.placed == Int64(rows.count))
        #expect(totals.accepted == Int64(rows.filter { $0.status == .accepted }.count))
        #expect(totals.earnedMinor == rows.reduce(0) { $0 + $1.earnedMinor })
        #expect(totals.balanceMinor == rows.reduce(0) { $0 + $1.balanceMinor })
        #expect(totals.payments == Int64(payments.count))
        #expect(totals.reversals == Int64(payments.filter(\.reversed).count))
        // Each placement is counted in the month it was selected.
        for (key, figures) in summary where figures.placed > 0 {
            let inKey = rows.filter {
                $0.universityID == key.universityID && $0.companyID == key.companyID && $0.currency == key.currency
                    && ReportMath.month($0.selectedAt) == key.month
            }
            #expect(figures.placed == Int64(inKey.count), "\(key)")
        }
    }

    @Test("the rows each batch writes, laid over the rows before it, give the rows of the final states", arguments: [1, 13, 500])
    func changedRowsAddUp(batchSize: Int) {
        let events = Self.recorded(postings: 30, seed: 11)
        typealias Key = FoldChanges.PostingStudent
        var states: [String: PostingState] = [:]
        var placements: [Key: PlacementRow] = [:]
        var applications: [Key: ApplicationRow] = [:]
        var payments: [String: PaymentRow] = [:]
        var written = (placements: 0, applications: 0, payments: 0)
        var touched = 0
        var start = 0
        while start < events.count {
            let batch = Array(events[start..<min(start + batchSize, events.count)])
            let ids = Set(batch.map(\.event.postingID))
            let changes = FoldChanges.fold(batch, states: states.filter { ids.contains($0.key) })
            let rows = changes.changedRows()
            for row in rows.placements { placements[Key(row.postingID, row.studentID)] = row }
            for row in rows.applications { applications[Key(row.postingID, row.studentID)] = row }
            for row in rows.payments { payments[row.companyID + "/" + row.paymentRef] = row }
            written.placements += rows.placements.count
            written.applications += rows.applications.count
            written.payments += rows.payments.count
            touched += changes.students.count
            states.merge(changes.postings) { $1 }
            start += batchSize
        }
        var expected = (placements: [Key: PlacementRow](), applications: [Key: ApplicationRow](), payments: [String: PaymentRow]())
        for posting in states.values {
            for student in posting.students.keys {
                expected.applications[Key(posting.postingID, student)] = ApplicationRow(posting: posting, studentID: student)
                if let row = PlacementRow(posting: posting, studentID: student) { expected.placements[Key(posting.postingID, student)] = row }
                for row in PaymentRow.rows(posting: posting, studentID: student) { expected.payments[row.companyID + "/" + row.paymentRef] = row }
            }
        }
        #expect(placements == expected.placements)
        #expect(applications == expected.applications)
        #expect(payments == expected.payments)
        #expect(expected.payments.values.contains { $0.reversed }, "the history reverses a payment")
        // Each application is written once, however the batches fall; a payment once, or twice
        // when it is reversed later.
        #expect(written.applications == expected.applications.count)
        #expect(written.payments <= expected.payments.count * 2)
        #expect(written.applications < touched)
    }

    @Test("a batch that changes nothing a report sums has no delta")
    func noDeltaForClosing() {
        let events = Self.recorded(postings: 3, seed: 2)
        let (_, states) = Self.summaryByBatches(events, size: 1000)
        let posting = states.values.first { $0.isOpen }!
        let closed = Event(
            id: "00000000-0000-4000-8000-000000000001", postingID: posting.postingID,
            occurredAt: Timestamp(microseconds: Self.micros("2027-01-01T00:00:00Z")), actor: "company:\(posting.companyID)",
            data: .closed(reason: nil))
        let changes = FoldChanges.fold(
            [RecordedEvent(event: closed, position: 10_000, version: 0, recordedAt: closed.occurredAt, prevHash: [], hash: [])],
            states: [posting.postingID: posting])
        #expect(ReportSummary.delta(changes).isEmpty)
    }

    // MARK: Month arithmetic

    @Test(
        "month starts in UTC",
        arguments: [
            ("2026-03-15T10:20:30Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
            ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
            ("2026-12-31T23:59:59.999999Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
            ("2024-02-29T12:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"),
            ("1969-12-31T23:59:59Z", "1969-12-01T00:00:00Z", "1970-01-01T00:00:00Z"),
        ])
    func monthStarts(time: String, start: String, next: String) {
        #expect(ReportMath.monthStart(Self.micros(time)) == Self.micros(start))
        #expect(ReportMath.nextMonthStart(Self.micros(time)) == Self.micros(next))
    }

    @Test("a range splits into whole months and partial ends")
    func monthSplit() {
        typealias Split = MonthSplit
        func split(_ from: String?, _ to: String?) -> Split { Split(from: from.map(Self.micros), to: to.map(Self.micros)) }
        func stretch(_ a: String, _ b: String) -> Split.Stretch { Split.Stretch(from: Self.micros(a), to: Self.micros(b)) }

        // Open on both ends: every month, no rows.
        #expect(split(nil, nil) == Split(whole: .init(from: nil, to: nil), edges: []))
        // Month-aligned: months only.
        #expect(split("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z") == Split(whole: .init(from: "2026-01", to: "2026-04"), edges: []))
        // Mid-month ends: the whole months between, and both ends from the rows.
        #expect(
            split("2025-12-15T08:00:00Z", "2026-03-10T00:00:00Z")
                == Split(
                    whole: .init(from: "2026-01", to: "2026-03"),
                    edges: [stretch("2025-12-15T08:00:00Z", "2026-01-01T00:00:00Z"), stretch("2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z")]))
        // One end open.
        #expect(
            split("2026-02-02T00:00:00Z", nil)
                == Split(whole: .init(from: "2026-03", to: nil), edges: [stretch("2026-02-02T00:00:00Z", "2026-03-01T00:00:00Z")]))
        #expect(
            split(nil, "2026-02-02T00:00:00Z")
                == Split(whole: .init(from: nil, to: "2026-02"), edges: [stretch("2026-02-01T00:00:00Z", "2026-02-02T00:00:00Z")]))
        // Within one month, or across one boundary without a whole month: rows only.
        #expect(split("2026-02-02T00:00:00Z", "2026-02-20T00:00:00Z") == Split(whole: nil, edges: [stretch("2026-02-02T00:00:00Z", "2026-02-20T00:00:00Z")]))
        #expect(split("2026-02-20T00:00:00Z", "2026-03-05T00:00:00Z") == Split(whole: nil, edges: [stretch("2026-02-20T00:00:00Z", "2026-03-05T00:00:00Z")]))
        // Exactly one whole month.
        #expect(split("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z") == Split(whole: .init(from: "2026-02", to: "2026-03"), edges: []))
        // From the last month there is, open-ended: that month's rows, no month after it.
        let lastMonthEnd = Timestamp.range.upperBound + 1
        #expect(
            split("9999-12-15T00:00:00Z", nil)
                == Split(whole: nil, edges: [Split.Stretch(from: Self.micros("9999-12-15T00:00:00Z"), to: lastMonthEnd)]))
        #expect(split("9999-12-01T00:00:00Z", nil) == Split(whole: .init(from: "9999-12", to: nil), edges: []))
        // Empty and reversed ranges hold nothing.
        #expect(split("2026-02-20T00:00:00Z", "2026-02-20T00:00:00Z") == Split(whole: nil, edges: []))
        #expect(split("2026-05-01T00:00:00Z", "2026-02-01T00:00:00Z") == Split(whole: nil, edges: []))
    }

    // MARK: Report shapes

    @Test("the university figures add parts up, leave out currencies and months without a placement, and count companies")
    func universityFigures() {
        func key(_ company: String, _ currency: String, _ month: String) -> ReportKey {
            ReportKey(universityID: "u-1", companyID: company, currency: currency, month: month)
        }
        let parts: [(ReportKey, ReportFigures)] = [
            (key("c-1", "USD", "2026-01"), ReportFigures(applicants: 3, placed: 2, accepted: 1, minutesLogged: 120, ratingSum: 9, ratings: 2, earnedMinor: 500, paidMinor: 200, balanceMinor: 300)),
            (key("c-2", "USD", "2026-01"), ReportFigures(placed: 1, accepted: 1, withdrawn: 0, minutesLogged: 60, ratingSum: 4, ratings: 1, earnedMinor: 100, paidMinor: 100)),
            (key("c-3", "EUR", "2026-02"), ReportFigures(applicants: 4)),
            (key("c-1", "USD", "2026-03"), ReportFigures(placed: 1, withdrawn: 1)),
        ]
        let figures = ReportSummary.universityFigures(parts)
        #expect(
            figures["overall"]
                == .object([
                    "applicants": .int(7), "placed": .int(4), "accepted": .int(2), "withdrawn": .int(1), "minutes_logged": .int(180),
                    "completion_rate": .decimal(units: 5000, scale: 4), "average_rating": .decimal(units: 433, scale: 2),
                    "companies": .int(2),
                ]))
        #expect(
            figures["by_currency"]
                == .array([
                    .object([
                        "currency": .string("USD"), "placed": .int(4), "accepted": .int(2), "withdrawn": .int(1), "minutes_logged": .int(180),
                        "earned_minor": .int(600), "paid_minor": .int(300), "balance_minor": .int(300),
                    ])
                ]))
        var months: [JSON] = []
        if case .array(let list)? = figures["by_month"] { months = list }
        #expect(months.map { $0["month"] } == [JSON.string("2026-01"), JSON.string("2026-03")] as [JSON?])
        #expect(months.first?["placed"] == .int(3))

        let empty = ReportSummary.universityFigures([])
        #expect(empty["overall"]?["average_rating"] == .null)
        #expect(empty["overall"]?["completion_rate"] == .decimal(units: 0, scale: 4))
        #expect(empty["by_currency"] == .array([]) && empty["by_month"] == .array([]))
    }

    @Test("the stipend figures sum per currency, in order, only currencies with a placement")
    func stipendFigures() {
        func key(_ university: String, _ currency: String) -> ReportKey {
            ReportKey(universityID: university, companyID: "c-1", currency: currency, month: "2026-01")
        }
        let parts: [(ReportKey, ReportFigures)] = [
            (key("u-2", "USD"), ReportFigures(placed: 1, capMinor: 1000, earnedMinor: 800, paidMinor: 500, balanceMinor: 300, payments: 2, reversals: 1)),
            (key("u-1", "USD"), ReportFigures(placed: 2, capMinor: 2000, earnedMinor: 100, paidMinor: 100, payments: 1)),
            (key("u-1", "EUR"), ReportFigures(placed: 1, capMinor: 50)),
            (key("u-3", "GBP"), ReportFigures(applicants: 2)),
        ]
        #expect(
            ReportSummary.stipendFigures(parts) == [
                .object([
                    "currency": .string("EUR"), "placements": .int(1), "cap_minor": .int(50), "earned_minor": .int(0), "paid_minor": .int(0),
                    "balance_minor": .int(0), "payments": .int(0), "reversals": .int(0),
                ]),
                .object([
                    "currency": .string("USD"), "placements": .int(3), "cap_minor": .int(3000), "earned_minor": .int(900),
                    "paid_minor": .int(600), "balance_minor": .int(300), "payments": .int(3), "reversals": .int(1),
                ]),
            ])
    }
}
