import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerHTTP
import LedgerProjections
import LedgerStore
import Testing

/// The read side through the real router: figures by the normative money rules, tenant scoping,
/// pagination, CSV, read-your-writes.
@Suite("Read routes")
struct ReadRouteTests {
    /// p-1 (c-1, fixed 500.00 USD): s-1 of u-1 delivers, is accepted with rating 4, is paid 300.00
    /// and 200.00, and the 200.00 is reversed. s-3 of u-2 only applies.
    /// p-2 (c-2, hourly 30.00 EUR, at most 10 h): s-2 of u-2 logs 95 minutes, then a −5 correction.
    static func history() -> [Event] {
        var p1 = Events("p-1")
        var p2 = Events("p-2")
        let day = CivilDate(iso: "2026-01-05")!
        return [
            p1.posted(company: "c-1"), p1.applied("s-1", university: "u-1"), p1.applied("s-3", university: "u-2"), p1.selected("s-1"),
            p1.make(.delivered(studentID: "s-1", summary: nil, url: nil)),
            p1.make(.reviewed(studentID: "s-1", accepted: true, rating: 4, comment: nil)),
            p1.paid("s-1", 30_000, ref: "r-1"), p1.paid("s-1", 20_000, ref: "r-2"),
            p1.make(.paymentReversed(studentID: "s-1", paymentRef: "r-2", reason: "bank returned it")),
            p2.posted(company: "c-2", stipend: .hourly(rateMinor: 3_000, maxHours: 10, currency: "EUR")),
            p2.applied("s-2", university: "u-2"), p2.selected("s-2"),
            p2.make(.hoursLogged(studentID: "s-2", minutes: 95, workDate: day, note: nil, reason: nil)),
            p2.make(.hoursLogged(studentID: "s-2", minutes: -5, workDate: day, note: nil, reason: "typo")),
        ]
    }

    @Test("reports follow the money rules and each key sees only its own rows")
    func reportsAndScoping() async throws {
        try await APIFixture.with { f, client in
            let appended = try await client.call(.post, "/v1/events", key: f.platform, body: body(Self.history()))
            #expect(appended.status == .created)
            let p = appended.json.lastPosition

            let u1 = try await client.call(.get, "/v1/reports/universities/u-1?min_position=\(p)", key: f.university)
            #expect(u1.status == .ok)
            #expect(Int64(u1.headers[.ledgerPosition] ?? "") ?? 0 >= p)
            let overall = u1.json["overall"]
            #expect(overall?["applicants"] == .int(1))
            #expect(overall?["placed"] == .int(1))
            #expect(overall?["accepted"] == .int(1))
            // Written as the shortest exact decimal: 1.0000 → 1, 4.00 → 4.
            #expect(overall?["completion_rate"] == .int(1))
            #expect(overall?["average_rating"] == .int(4))
            #expect(overall?["companies"] == .int(1))
            #expect(u1.json["by_currency"]?[0]?["earned_minor"] == .int(50_000))
            #expect(u1.json["by_currency"]?[0]?["paid_minor"] == .int(30_000))
            #expect(u1.json["by_currency"]?[0]?["balance_minor"] == .int(20_000))
            #expect(u1.json["by_month"]?[0]?["placed"] == .int(1))

            let u2 = try await client.call(.get, "/v1/reports/universities/u-2?min_position=\(p)", key: f.otherUniversity)
            #expect(u2.json["overall"]?["applicants"] == .int(2))
            #expect(u2.json["overall"]?["placed"] == .int(1))
            #expect(u2.json["overall"]?["completion_rate"] == .int(0))
            #expect(u2.json["overall"]?["average_rating"] == .null)
            #expect(u2.json["overall"]?["minutes_logged"] == .int(90))
            // 30.00/h × 90 min = 45.00, rounded half up on the total.
            #expect(u2.json["by_currency"]?[0]?["earned_minor"] == .int(4_500))

            // Another university's report looks absent; a company may not read university reports.
            #expect(try await client.call(.get, "/v1/reports/universities/u-1", key: f.otherUniversity).status == .notFound)
            #expect(try await client.call(.get, "/v1/reports/universities/u-1", key: f.company).status == .forbidden)

            let stipends = try await client.call(.get, "/v1/reports/companies/c-1/stipends?min_position=\(p)", key: f.company)
            let usd = stipends.json["by_currency"]?[0]
            #expect(usd?["currency"] == .string("USD"))
            #expect(usd?["cap_minor"] == .int(50_000))
            #expect(usd?["paid_minor"] == .int(30_000))
            #expect(usd?["payments"] == .int(2))
            #expect(usd?["reversals"] == .int(1))
            #expect(stipends.json["open_balances"]?[0]?["balance_minor"] == .int(20_000))
            #expect(try await client.call(.get, "/v1/reports/companies/c-1/stipends", key: f.otherCompany).status == .notFound)
            #expect(try await client.call(.get, "/v1/reports/companies/c-1/stipends", key: f.university).status == .forbidden)

            let csv = try await client.execute(
                uri: "/v1/reports/companies/c-1/stipends?format=csv", method: .get, headers: [.authorization: "Bearer \(f.company)"]
            ) { response in (response.status, String(buffer: response.body), response.headers[.contentType]) }
            #expect(csv.0 == .ok)
            #expect(csv.2?.hasPrefix("text/csv") == true)
            #expect(csv.1 == "currency,placements,cap_minor,earned_minor,paid_minor,balance_minor,payments,reversals\r\nUSD,1,50000,50000,30000,20000,2,1\r\n")

            let payouts = try await client.call(.get, "/v1/reports/payouts?min_position=\(p)", key: f.platform)
            #expect(payouts.json["items"]?.array.count == 2)
            #expect(payouts.json["items"]?[1]?["reversed"] == .bool(true))
            #expect(payouts.json["totals"]?[0]?["net_minor"] == .int(30_000))
            #expect(payouts.json["totals"]?[0]?["reversed_minor"] == .int(20_000))
            #expect(try await client.call(.get, "/v1/reports/payouts", key: f.otherCompany).json["items"]?.array.count == 0)
            #expect(try await client.call(.get, "/v1/reports/payouts", key: f.otherUniversity).json["items"]?.array.count == 0)

            // Placements: a university sees only its students' placements.
            let mine = try await client.call(.get, "/v1/placements?min_position=\(p)", key: f.otherUniversity)
            #expect(mine.json["placements"]?.array.map { $0["student_id"] } == [.string("s-2")])
            #expect(try await client.call(.get, "/v1/placements/p-1/s-1", key: f.otherUniversity).status == .notFound)
            let detail = try await client.call(.get, "/v1/placements/p-1/s-1", key: f.university)
            #expect(detail.json["placement"]?["status"] == .string("accepted"))
            #expect(detail.json["placement"]?["settled"] == .bool(false))
            // The audit trail: posting-level events and s-1's, not s-3's application.
            #expect(detail.json["events"]?.array.count == 8)
            #expect(try await client.call(.get, "/v1/placements?status=done", key: f.platform).json.errorCode == "invalid_field")
            #expect(try await client.call(.get, "/v1/placements?cursor=nonsense", key: f.platform).json.errorCode == "invalid_field")
            // A well-formed cursor whose ids are not identifiers (here a NUL, which PostgreSQL refuses).
            let crafted = Data(#"["p-\u0000","s"]"#.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
            let bad = try await client.call(.get, "/v1/placements?cursor=\(crafted)", key: f.platform)
            #expect(bad.status == .badRequest)
            #expect(bad.json.errorField == "cursor")
            // Percent-encoded identifiers in the path (as the dashboard sends them) are decoded.
            #expect(try await client.call(.get, "/v1/placements/p%2D1/s%2D1", key: f.university).json["placement"]?["student_id"] == .string("s-1"))
            #expect(try await client.call(.get, "/v1/postings/p%2D1", key: f.university).json["posting"]?["posting_id"] == .string("p-1"))
            #expect(try await client.call(.get, "/v1/postings/p%2D1/events", key: f.company).status == .ok)
            #expect(try await client.call(.get, "/v1/projections", key: f.university).status == .forbidden)
            let projections = try await client.call(.get, "/v1/projections", key: f.admin)
            #expect(projections.json["projections"]?.array.count == ProjectionDefinition.all.count)
        }
    }

    @Test("the placements list pages with an opaque cursor, every row once")
    func pagination() async throws {
        try await APIFixture.with { f, client in
            var events: [Event] = []
            for i in 0..<3 {
                var e = Events("p-\(i)")
                events += [e.posted(company: "c-1", openings: 3)]
                for s in 0..<3 { events += [e.applied("s-\(s)"), e.selected("s-\(s)")] }
            }
            let p = try await client.call(.post, "/v1/events", key: f.platform, body: body(events)).json.lastPosition
            var seen: [String] = []
            var cursor: String?
            repeat {
                let uri = "/v1/placements?limit=4&min_position=\(p)" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.call(.get, uri, key: f.company)
                #expect(page.status == .ok)
                for row in page.json["placements"]?.array ?? [] {
                    if case .string(let posting)? = row["posting_id"], case .string(let student)? = row["student_id"] {
                        seen.append("\(posting)/\(student)")
                    }
                }
                if case .string(let next)? = page.json["next_cursor"] { cursor = next } else { cursor = nil }
            } while cursor != nil && seen.count < 100
            #expect(seen.count == 9)
            #expect(Set(seen).count == 9)
            #expect(seen == seen.sorted())
        }
    }

    @Test("X-Ledger-Position: every event at or below it is in the data, while appends go on (one-statement reads)")
    func positionMatchesData() async throws {
        try await APIFixture.with { f, client in
            var e = Events("p-1")
            let posted = try await client.call(.post, "/v1/events", key: f.platform, body: body(e.posted(openings: 5)))
            #expect(posted.status == .created)
            let applications = e
            // One task applies 60 students one by one; the other reads the posting meanwhile.
            async let appended: [Int64] = {
                var e = applications
                var positions: [Int64] = []
                for i in 0..<60 {
                    let reply = try await client.call(.post, "/v1/events", key: f.platform, body: body(e.applied("s-\(i)")))
                    positions.append(reply.json.lastPosition)
                }
                return positions
            }()
            var seen: [(position: Int64, applicants: Int64)] = []
            for _ in 0..<150 {
                let reply = try await client.call(.get, "/v1/postings/p-1?min_position=\(posted.json.lastPosition)", key: f.platform)
                #expect(reply.status == .ok)
                guard case .int(let applicants)? = reply.json["posting"]?["applicants"], let position = Int64(reply.headers[.ledgerPosition] ?? "")
                else { Issue.record("no applicants or position in \(reply.json)"); return }
                seen.append((position, applicants))
            }
            let positions = try await appended
            #expect(positions.count == 60)
            for (position, applicants) in seen {
                // Every application at or below the position, and none that was never acknowledged.
                // (Inline read models may show more: an append that committed while an older
                // transaction was still open is visible above the gap-free position.)
                #expect(applicants >= Int64(positions.filter { $0 <= position }.count), "at position \(position)")
                #expect(applicants <= Int64(positions.count))
            }
            #expect(Set(seen.map(\.applicants)).count > 1, "the reads overlapped the appends")
        }
    }

    @Test("a read that finds no rows still answers with the projections' position")
    func emptyReadsCarryThePosition() async throws {
        try await APIFixture.with { f, client in
            let appended = try await client.call(.post, "/v1/events", key: f.platform, body: body(Self.history()))
            let p = appended.json.lastPosition
            let none = try await client.call(.get, "/v1/placements?student_id=s-none&min_position=\(p)", key: f.platform)
            #expect(none.status == .ok)
            #expect(none.json["placements"] == .array([]))
            let status = try await client.call(.get, "/v1/projections?min_position=\(p)", key: f.platform)
            let checkpoints = status.json["projections"]?.array.compactMap { item -> Int64? in
                if case .string("placements")? = item["name"], case .int(let position)? = item["position"] { position } else { nil }
            }
            #expect(checkpoints?.count == 1)
            // Asked later, the status reflects at least as much as the empty read said it did.
            #expect(Int64(none.headers[.ledgerPosition] ?? "") ?? Int64.max <= checkpoints?.first ?? 0)
            #expect(Int64(none.headers[.ledgerPosition] ?? "") ?? 0 >= p)
            let missing = try await client.call(.get, "/v1/postings/p-none?min_position=\(p)", key: f.platform)
            #expect(missing.status == .notFound)
        }
    }

    @Test("min_position beyond what the projections can reach answers 503 projection_lagging with Retry-After")
    func lagging() async throws {
        try await APIFixture.with { f, client in
            let reply = try await client.call(.get, "/v1/placements?min_position=\(Int64.max)", key: f.platform)
            #expect(reply.status == .serviceUnavailable)
            #expect(reply.json.errorCode == "projection_lagging")
            #expect(reply.headers[.retryAfter] != nil)
        }
    }
}

extension JSON {
    subscript(index: Int) -> JSON? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }
}

@Suite("Metrics")
struct MetricsTests {
    @Test("/metrics counts appends and rejections by code, times requests and shows projection lag")
    func prometheusText() async throws {
        try await APIFixture.with { f, client in
            var e = Events("p-1")
            #expect(try await client.call(.post, "/v1/events", key: f.platform, body: body(e.placement("s-1"))).status == .created)
            #expect(try await client.call(.post, "/v1/events", key: f.platform, body: body(e.selected("s-1"))).status == .unprocessableContent)
            #expect(try await client.call(.get, "/v1/events", key: nil).status == .unauthorized)
            let text = try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                return String(buffer: response.body)
            }
            let lines = Set(text.split(separator: "\n").map(String.init))
            #expect(lines.contains("placement_events_appended_total 3"))
            #expect(lines.contains("placement_rejections_total{code=\"already_selected\"} 1"))
            #expect(lines.contains("placement_rejections_total{code=\"unauthorized\"} 1"))
            #expect(lines.contains("placement_db_up 1.0"))
            #expect(lines.contains("# TYPE placement_http_request_duration_seconds histogram"))
            // A figure nobody set is not shown: this API was given no pool size.
            #expect(!lines.contains { $0.hasPrefix("placement_db_pool_max_connections") })
            #expect(lines.contains { $0.hasPrefix("placement_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/events\"} 2") })
            #expect(lines.contains { $0.hasPrefix("placement_projection_lag_events{projection=\"placements\"}") })
        }
    }
}
