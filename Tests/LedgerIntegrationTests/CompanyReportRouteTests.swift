import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerHTTP
import Testing

/// The company statement and aging through the real router, on a hand-made history.
@Suite("Company statement and aging routes")
struct CompanyReportRouteTests {
    /// c-1's two placements (each event at 09:00 UTC of its day, the Events clock being set a minute before):
    /// - p-f, fixed 500.00 USD: s-1 selected 03-01; paid 200.00 in advance (r-a) 03-05; delivered
    ///   03-19 and accepted 03-20 (earned 500.00); paid 300.00 (r-b) 04-02, reversed 04-10.
    /// - p-h, hourly 30.00 EUR/h, at most 10 h: s-2 selected 03-01; 95 min logged 03-03 (47.50);
    ///   a −5 min correction 04-05 (90 min: 45.00, an earned line of −2.50); paid 20.00 (r-e) 04-06.
    /// c-2's p-o (fixed 100.00 USD) is paid 100.00 and never shows.
    static func march() -> [Event] {
        var f = Events("p-f"), h = Events("p-h"), o = Events("p-o")
        func on(_ day: String, _ e: inout Events) { e.clock = Timestamp(rfc3339: "2026-\(day)T08:59:00Z")! }
        var events: [Event] = []
        on("03-01", &f)
        events += [f.posted(company: "c-1"), f.applied("s-1"), f.selected("s-1")]
        on("03-05", &f)
        events.append(f.paid("s-1", 20_000, ref: "r-a"))
        on("03-01", &h)
        events += [h.posted(company: "c-1", stipend: .hourly(rateMinor: 3_000, maxHours: 10, currency: "EUR")), h.applied("s-2"), h.selected("s-2")]
        on("03-03", &h)
        events.append(h.make(.hoursLogged(studentID: "s-2", minutes: 95, workDate: CivilDate(iso: "2026-03-02")!, note: nil, reason: nil)))
        on("03-19", &f)
        events.append(f.make(.delivered(studentID: "s-1", summary: nil, url: nil)))
        on("03-20", &f)
        events.append(f.make(.reviewed(studentID: "s-1", accepted: true, rating: 5, comment: nil)))
        events += o.placement("s-3", company: "c-2")
        events.append(o.paid("s-3", 50_000, ref: "r-o"))
        return events
    }

    static func april() -> [Event] {
        var f = Events("p-f"), h = Events("p-h")
        func on(_ day: String, _ e: inout Events) { e.clock = Timestamp(rfc3339: "2026-\(day)T08:59:00Z")! }
        var events: [Event] = []
        on("04-02", &f)
        events.append(f.paid("s-1", 30_000, ref: "r-b"))
        on("04-05", &h)
        events.append(h.make(.hoursLogged(studentID: "s-2", minutes: -5, workDate: CivilDate(iso: "2026-03-02")!, note: nil, reason: "typo")))
        on("04-06", &h)
        events.append(h.paid("s-2", 2_000, ref: "r-e", currency: "EUR"))
        on("04-10", &f)
        events.append(f.make(.paymentReversed(studentID: "s-1", paymentRef: "r-b", reason: "returned")))
        return events
    }

    static func currency(_ report: JSON, _ code: String) -> JSON? {
        report["currencies"]?.array.first { $0["currency"] == .string(code) }
    }

    static func figures(_ c: JSON?) -> [Int64] {
        ["opening_balance_minor", "earned_minor", "paid_minor", "reversed_minor", "closing_balance_minor"].map {
            if case .int(let v)? = c?[$0] { v } else { Int64.min }
        }
    }

    @Test("statement: figures and lines, splits that add up, closing to now equals the stipends balance, as_of ignores later records")
    func statement() async throws {
        try await APIFixture.with { f, client in
            let first = try await client.call(.post, "/v1/events", key: f.platform, body: body(Self.march()))
            #expect(first.status == .created)
            guard case .string(let marchRecorded)? = first.json["events"]?.array.last?["recorded_at"] else {
                Issue.record("no recorded_at in \(first.json)")
                return
            }
            let second = try await client.call(.post, "/v1/events", key: f.platform, body: body(Self.april()))
            #expect(second.status == .created)
            let p = second.json.lastPosition

            let march = try await client.call(
                .get, "/v1/reports/companies/c-1/statement?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z&min_position=\(p)", key: f.company)
            #expect(march.status == .ok)
            #expect(march.json["company_id"] == .string("c-1"))
            #expect(march.json["as_of"] == .null)
            // USD: earned 500.00 at the acceptance, paid 200.00 in advance; EUR: 95 min at 30.00/h = 47.50.
            #expect(Self.figures(Self.currency(march.json, "USD")) == [0, 50_000, 20_000, 0, 30_000])
            #expect(Self.figures(Self.currency(march.json, "EUR")) == [0, 4_750, 0, 0, 4_750])
            let usdLines = Self.currency(march.json, "USD")?["lines"]?.array ?? []
            #expect(usdLines.map { $0["kind"] } == [.string("paid"), .string("earned")])
            #expect(usdLines.first?["payment_ref"] == .string("r-a"))
            #expect(usdLines.first?["occurred_at"] == .string("2026-03-05T09:00:00Z"))
            #expect(usdLines.last?["amount_minor"] == .int(50_000))
            #expect(usdLines.last?["student_id"] == .string("s-1"))

            let april = try await client.call(.get, "/v1/reports/companies/c-1/statement?from=2026-04-01T00:00:00Z", key: f.company)
            // USD: 300.00 paid and reversed; EUR: the correction's −2.50 and 20.00 paid.
            #expect(Self.figures(Self.currency(april.json, "USD")) == [30_000, 0, 30_000, 30_000, 30_000])
            #expect(Self.figures(Self.currency(april.json, "EUR")) == [4_750, -250, 2_000, 0, 2_500])
            #expect(Self.currency(april.json, "EUR")?["lines"]?.array.first?["amount_minor"] == .int(-250))

            // Closing to now equals the stipends report's balance.
            let stipends = try await client.call(.get, "/v1/reports/companies/c-1/stipends", key: f.company)
            let whole = try await client.call(.get, "/v1/reports/companies/c-1/statement", key: f.company)
            for code in ["USD", "EUR"] {
                let balance = stipends.json["by_currency"]?.array.first { $0["currency"] == .string(code) }?["balance_minor"]
                #expect(Self.currency(whole.json, code)?["closing_balance_minor"] == balance, "\(code)")
                #expect(balance != nil)
            }

            // Split anywhere: the first part's closing is the second part's opening.
            for cut in ["2026-03-01T09:00:00Z", "2026-03-04T00:00:00Z", "2026-03-20T09:00:00Z", "2026-04-05T12:00:00Z", "2026-05-01T00:00:00Z"] {
                let before = try await client.call(.get, "/v1/reports/companies/c-1/statement?to=\(cut)", key: f.platform)
                let after = try await client.call(.get, "/v1/reports/companies/c-1/statement?from=\(cut)", key: f.platform)
                for code in ["USD", "EUR"] {
                    let closing = Self.currency(before.json, code)?["closing_balance_minor"]
                    #expect(closing != nil)
                    #expect(closing == Self.currency(after.json, code)?["opening_balance_minor"], "\(cut) \(code)")
                    #expect(Self.currency(after.json, code)?["closing_balance_minor"] == Self.currency(whole.json, code)?["closing_balance_minor"])
                }
            }

            // As recorded when March's batch was: no April lines, whatever their business time.
            let then = try await client.call(.get, "/v1/reports/companies/c-1/statement?as_of=\(marchRecorded)", key: f.admin)
            #expect(then.json["as_of"] == .string(marchRecorded))
            #expect(Self.figures(Self.currency(then.json, "USD")) == [0, 50_000, 20_000, 0, 30_000])
            #expect(Self.figures(Self.currency(then.json, "EUR")) == [0, 4_750, 0, 0, 4_750])

            let csv = try await client.execute(
                uri: "/v1/reports/companies/c-1/statement?from=2026-04-01T00:00:00Z&format=csv", method: .get,
                headers: [.authorization: "Bearer \(f.company)"]
            ) { response in (response.status, String(buffer: response.body), response.headers[.contentType]) }
            #expect(csv.0 == .ok)
            #expect(csv.2?.hasPrefix("text/csv") == true)
            let rows = csv.1.split(separator: "\r\n")
            #expect(rows.first == "currency,opening_balance_minor,earned_minor,paid_minor,reversed_minor,closing_balance_minor,occurred_at,posting_id,student_id,kind,event_id,position,payment_ref,amount_minor")
            #expect(rows.count == 1 + 4)  // EUR: correction, payment; USD: payment, reversal
            #expect(rows.dropFirst().first?.hasPrefix("EUR,4750,-250,2000,0,2500,2026-04-05T09:00:00Z,p-h,s-2,earned,") == true)
        }
    }

    @Test("aging: what is owed by age after payments are applied oldest first, and as of an earlier record")
    func aging() async throws {
        try await APIFixture.with { f, client in
            let first = try await client.call(.post, "/v1/events", key: f.platform, body: body(Self.march()))
            guard case .string(let marchRecorded)? = first.json["events"]?.array.last?["recorded_at"] else {
                Issue.record("no recorded_at in \(first.json)")
                return
            }
            #expect(try await client.call(.post, "/v1/events", key: f.platform, body: body(Self.april())).status == .created)

            let may = try await client.call(.get, "/v1/reports/companies/c-1/aging?at=2026-05-01T00:00:00Z", key: f.company)
            #expect(may.status == .ok)
            #expect(may.json["at"] == .string("2026-05-01T00:00:00Z"))
            // USD: 500.00 earned 03-20 09:00, 200.00 + 300.00 − 300.00 paid: 300.00 open, 41 days (31-60).
            let usd = Self.currency(may.json, "USD")
            #expect(usd?["total_minor"] == .int(30_000))
            #expect(usd?["buckets"]?["31-60"] == .int(30_000))
            #expect(usd?["buckets"]?["0-30"] == .int(0))
            #expect(usd?["items"]?.array.count == 1)
            #expect(usd?["items"]?[0]?["due_since"] == .string("2026-03-20T09:00:00Z"))
            #expect(usd?["items"]?[0]?["days"] == .int(41))
            // EUR: 47.50 earned 03-03 09:00, less the −2.50 correction and 20.00 paid: 25.00 open, 58 days.
            let eur = Self.currency(may.json, "EUR")
            #expect(eur?["total_minor"] == .int(2_500))
            #expect(eur?["items"]?[0]?["days"] == .int(58))
            #expect(eur?["items"]?[0]?["bucket"] == .string("31-60"))

            // On 2026-06-30 09:00 the USD item is 11 + 30 + 31 + 30 = 102 days old: 90+.
            let june = try await client.call(.get, "/v1/reports/companies/c-1/aging?at=2026-06-30T09:00:00Z", key: f.platform)
            #expect(Self.currency(june.json, "USD")?["buckets"]?["90+"] == .int(30_000))
            #expect(Self.currency(june.json, "USD")?["items"]?[0]?["days"] == .int(102))

            // As recorded in March: the EUR correction and payment were not there yet.
            let then = try await client.call(
                .get, "/v1/reports/companies/c-1/aging?at=2026-05-01T00:00:00Z&as_of=\(marchRecorded)", key: f.company)
            #expect(Self.currency(then.json, "EUR")?["total_minor"] == .int(4_750))

            let csv = try await client.execute(
                uri: "/v1/reports/companies/c-1/aging?at=2026-05-01T00:00:00Z&format=csv", method: .get, headers: [.authorization: "Bearer \(f.company)"]
            ) { response in String(buffer: response.body) }
            #expect(csv.hasPrefix("currency,total_minor,0-30,31-60,61-90,90+,posting_id,student_id,amount_minor,due_since,days,bucket\r\nEUR,2500,0,2500,0,0,p-h,s-2,2500,2026-03-03T09:00:00Z,58,31-60\r\n"))
        }
    }

    @Test("another company's key gets 404; a university's 403; bad from, to, as_of and at get 400 invalid_field naming the parameter")
    func refusals() async throws {
        try await APIFixture.with { f, client in
            #expect(try await client.call(.post, "/v1/events", key: f.platform, body: body(Self.march())).status == .created)
            for report in ["statement", "aging"] {
                let other = try await client.call(.get, "/v1/reports/companies/c-1/\(report)", key: f.otherCompany)
                #expect(other.status == .notFound, "\(report)")
                #expect(other.json.errorCode == "not_found")
                #expect(try await client.call(.get, "/v1/reports/companies/c-1/\(report)", key: f.university).status == .forbidden)
                #expect(try await client.call(.get, "/v1/reports/companies/c-1/\(report)").status == .unauthorized)
            }
            for (path, field) in [
                ("statement?from=yesterday", "from"), ("statement?to=2026-13-01T00:00:00Z", "to"), ("statement?as_of=2026-03-01", "as_of"),
                ("statement?from=2026-04-01T00:00:00Z&to=2026-03-01T00:00:00Z", "to"), ("aging?at=now", "at"), ("aging?as_of=x", "as_of"),
                ("statement?format=xml", "format"),
            ] {
                let answer = try await client.call(.get, "/v1/reports/companies/c-1/\(path)", key: f.company)
                #expect(answer.status == .badRequest, "\(path)")
                #expect(answer.json.errorCode == "invalid_field", "\(path)")
                #expect(answer.json.errorField == field, "\(path)")
            }
        }
    }
}
