import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import Logging
import PostgresNIO
import Testing

/// The reports read the placements projection's summary (whole months) and its rows (the partial
/// months at a range's ends); summed from the rows alone they must say the same.
@Suite("Report summary in the store")
struct ReportSummaryStoreTests {
    static let logger = TestCluster.logger

    static func time(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

    /// Ranges over the demo history (2025-01-06 and the 600 days after): open, month-aligned,
    /// mid-month, within one month, across one boundary, one end open, empty, reversed.
    static let ranges: [TimeRange] = [
        TimeRange(),
        TimeRange(from: time("2025-02-01T00:00:00Z"), to: time("2025-06-01T00:00:00Z")),
        TimeRange(from: time("2025-01-20T13:45:00Z"), to: time("2025-05-10T08:00:00Z")),
        TimeRange(from: time("2025-03-03T00:00:00Z"), to: time("2025-03-25T00:00:00Z")),
        TimeRange(from: time("2025-03-20T00:00:00Z"), to: time("2025-04-12T00:00:00Z")),
        TimeRange(from: time("2025-04-15T12:00:00Z")),
        TimeRange(to: time("2025-03-15T00:00:00Z")),
        TimeRange(from: time("2025-04-01T00:00:00Z"), to: time("2025-04-01T00:00:00Z")),
        TimeRange(from: time("2025-06-01T00:00:00Z"), to: time("2025-02-01T00:00:00Z")),
    ]

    /// Every university report over every range and every company's stipends, as canonical text.
    static func reports(_ ledger: TestLedger, model: ReadModel) async throws -> [String: String] {
        try await ledger.store.client.withConnection { connection in
            var out: [String: String] = [:]
            for university in try await model.universities(scope: .everything, on: connection) {
                for (i, range) in ranges.enumerated() {
                    out["\(university) \(i)"] = try await model.universityReport(university, range: range, on: connection).canonicalString
                }
            }
            for company in try await model.companies(scope: .everything, on: connection) {
                out[company] = try await model.companyStipends(company, on: connection).canonicalString
            }
            return out
        }
    }

    @Test("reports from the summary equal reports summed from the rows, over any range; an older schema without it answers from its rows")
    func summaryEqualsRows() async throws {
        try await TestLedger.with { ledger in
            try await ledger.appendConcurrently(Array(DemoHistory(postings: 60, seed: 21)), writers: 3)
            #expect(try await ledger.count("SELECT count(*) FROM proj_placements.report_months") > 10)

            let model = ReadModel(logger: Self.logger)
            let fromSummary = try await Self.reports(ledger, model: model)
            let fromRows = try await Self.reports(ledger, model: model.summingRows)
            #expect(fromSummary.count == 8 * Self.ranges.count + 12)
            for key in fromRows.keys.sorted() where fromSummary[key] != fromRows[key] {
                Issue.record("\(key): summary \(fromSummary[key] ?? "-")\n rows \(fromRows[key]!)")
            }
            // The ranges are not all alike: the comparison covers placements inside and outside them.
            #expect(Set(fromSummary.filter { $0.key.hasPrefix("u-mit") }.values).count >= Self.ranges.count - 2)
            #expect(fromSummary["u-mit 1"]?.contains("\"placed\":0") == false)

            // Open balances (written straight into bytes) against the placement rows: every
            // placement with a balance, oldest selection first, with its money.
            let listed = try await ledger.store.client.withConnection { connection in
                var listed = 0
                for company in try await model.companies(scope: .everything, on: connection) {
                    let report = try JSONParser.parse(Array(try await model.companyStipends(company, on: connection).canonicalBytes))
                    let rows = try await model.placements(
                        filter: .init(companyID: company), scope: .everything, limit: 100_000, after: nil, on: connection
                    ).rows.filter { $0.balanceMinor != 0 }.sorted {
                        ($0.selectedAt, $0.postingID, $0.studentID) < ($1.selectedAt, $1.postingID, $1.studentID)
                    }
                    let want = JSON.array(
                        rows.map {
                            .object([
                                "posting_id": .string($0.postingID), "student_id": .string($0.studentID), "currency": .string($0.currency),
                                "earned_minor": .int($0.earnedMinor), "paid_minor": .int($0.paidMinor), "balance_minor": .int($0.balanceMinor),
                                "selected_at": .string($0.selectedAt.rfc3339),
                            ])
                        })
                    #expect(report["open_balances"] == want, "\(company)")
                    listed += rows.count
                }
                return listed
            }
            #expect(listed > 0)

            // The live schema of the previous version (serving while its successor is rebuilt) has
            // no summary table: the same reports, from its rows.
            try await ledger.exec("DROP TABLE proj_placements.report_months")
            #expect(try await Self.reports(ledger, model: model) == fromSummary)
        }
    }

    @Test("the summary of a rebuild equals the one kept live, batch by batch")
    func rebuildEqualsLive() async throws {
        try await TestLedger.with { ledger in
            let events = Array(DemoHistory(postings: 40, seed: 8))
            try await ledger.appendConcurrently(events, writers: 4, batch: 3)
            let summary = """
                SELECT string_agg(concat_ws(' ', university_id, month, company_id, currency, applicants, placed, accepted, withdrawn,
                    minutes_logged, rating_sum, ratings, cap_minor, earned_minor, paid_minor, balance_minor, payments, reversals), E'\\n'
                    ORDER BY university_id, month, company_id, currency) FROM proj_placements.report_months
                """
            let live = try await ledger.text(summary)
            _ = try await ledger.runner.rebuild(.placements)
            #expect(!live.isEmpty)
            #expect(try await ledger.text(summary) == live)
        }
    }

    @Test("a projection that caught up with many events when it was attached analyzes its tables")
    func analyzesAfterCatchUp() async throws {
        try await TestLedger.with { ledger in
            let events = Array(DemoHistory(postings: 20, seed: 4))
            // A ledger whose events were recorded before its projections existed (an import into a
            // new database, say): the first daemon to start builds them in place from the log.
            try await ledger.exec("DROP SCHEMA proj_placements CASCADE; DELETE FROM projections WHERE name = 'placements'")
            let store = EventStore(client: ledger.store.client, logger: TestCluster.logger, readModels: InlineProjections())
            for chunk in stride(from: 0, to: events.count, by: 50) { _ = try await store.append(Array(events[chunk..<min(chunk + 50, events.count)])) }
            try await ledger.runner.prepare(analyzeAfter: events.count / 2)
            let analyzed = "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = 'proj_placements' AND analyze_count > 0"
            let deadline = ContinuousClock.now + .seconds(20)
            while try await ledger.count(analyzed) < 4, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            // Every table of the schema (placements, applications, payments, report_months).
            #expect(try await ledger.count(analyzed) == 4)
            #expect(try await ledger.count("SELECT count(*) FROM proj_placements.placements") > 0)
        }
    }
}
