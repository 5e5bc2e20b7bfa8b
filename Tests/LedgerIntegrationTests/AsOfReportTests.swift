import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerHTTP
import Testing

/// `as_of` on the report routes: folded from the log, through the real router.
@Suite("Reports as of a recorded time")
struct AsOfReportTests {
    static func withoutAsOf(_ json: JSON) -> JSON {
        guard case .object(var members) = json else { return json }
        members["as_of"] = nil
        return .object(members)
    }

    @Test("as of now, each report equals the live one; as of an earlier record, it ignores what was recorded later")
    func asOf() async throws {
        try await APIFixture.with { f, client in
            // ReadRouteTests.history(): the first seven events end with p-1's payment r-1; the rest
            // are the payment r-2, its reversal and all of p-2 (c-2, s-2 of u-2).
            let history = ReadRouteTests.history()
            let first = try await client.call(.post, "/v1/events", key: f.platform, body: body(Array(history.prefix(7))))
            #expect(first.status == .created)
            guard case .string(let then)? = first.json["events"]?.array.last?["recorded_at"] else {
                Issue.record("no recorded_at")
                return
            }
            let rest = try await client.call(.post, "/v1/events", key: f.platform, body: body(Array(history.dropFirst(7))))
            #expect(rest.status == .created)
            let p = rest.json.lastPosition
            let later = "2099-01-01T00:00:00Z"

            let routes = [
                ("/v1/reports/companies/c-1/stipends", f.company), ("/v1/reports/universities/u-2", f.otherUniversity),
                ("/v1/reports/universities/u-1?from=2026-03-01T00:00:00Z&to=2026-03-01T09:05:00Z", f.university),
                ("/v1/reports/payouts", f.platform), ("/v1/reports/payouts?company_id=c-1&to=2026-03-01T09:08:00Z", f.admin),
                ("/v1/reports/payouts", f.otherCompany),
            ]
            for (route, key) in routes {
                let separator = route.contains("?") ? "&" : "?"
                let live = try await client.call(.get, "\(route)\(separator)min_position=\(p)", key: key)
                let now = try await client.call(.get, "\(route)\(separator)as_of=\(later)", key: key)
                #expect(live.status == .ok, "\(route)")
                #expect(now.status == .ok, "\(route)")
                #expect(now.json["as_of"] == .string(later), "\(route)")
                #expect(Self.withoutAsOf(now.json) == live.json, "\(route): \(now.json.canonicalString) vs \(live.json.canonicalString)")
            }

            let stipends = try await client.call(.get, "/v1/reports/companies/c-1/stipends?as_of=\(then)", key: f.company)
            let usd = stipends.json["by_currency"]?[0]
            // Then: 500.00 earned, only r-1's 300.00 paid; now r-2 has been paid and reversed too.
            #expect(usd?["paid_minor"] == .int(30_000))
            #expect(usd?["balance_minor"] == .int(20_000))
            #expect(usd?["payments"] == .int(1))
            #expect(usd?["reversals"] == .int(0))
            let live = try await client.call(.get, "/v1/reports/companies/c-1/stipends", key: f.company)
            #expect(live.json["by_currency"]?[0]?["payments"] == .int(2))

            let payouts = try await client.call(.get, "/v1/reports/payouts?as_of=\(then)", key: f.platform)
            #expect(payouts.json["items"]?.array.count == 1)
            #expect(payouts.json["items"]?[0]?["payment_ref"] == .string("r-1"))
            #expect(payouts.json["totals"]?[0]?["net_minor"] == .int(30_000))

            // u-2 then: only s-3's application to p-1; p-2 (s-2's placement) was recorded later.
            let u2 = try await client.call(.get, "/v1/reports/universities/u-2?as_of=\(then)", key: f.otherUniversity)
            #expect(u2.json["overall"]?["applicants"] == .int(1))
            #expect(u2.json["overall"]?["placed"] == .int(0))
            #expect(u2.json["by_currency"]?.array.isEmpty == true)
        }
    }

    @Test("a bad as_of is 400 invalid_field naming it, on every report route")
    func badAsOf() async throws {
        try await APIFixture.with { f, client in
            for route in ["/v1/reports/companies/c-1/stipends", "/v1/reports/universities/u-1", "/v1/reports/payouts"] {
                let answer = try await client.call(.get, "\(route)?as_of=2026-02-30T00:00:00Z", key: f.admin)
                #expect(answer.status == .badRequest, "\(route)")
                #expect(answer.json.errorField == "as_of", "\(route)")
            }
        }
    }
}

@Suite("Reports folded from the log: the daemon's bound")
struct HistoryReportGateTests {
    @Test("past the bound, a folded report answers 503 unavailable at once; the live reports are not held back")
    func bound() async throws {
        try await APIFixture.with { f, _ in
            var api = f.api
            api.historyReports = HistoryReportGate(limit: 0)
            let app = Application(router: api.buildRouter(), logger: TestCluster.logger)
            try await app.test(.router) { client in
                #expect(try await client.call(.post, "/v1/events", key: f.platform, body: body(ReadRouteTests.history())).status == .created)
                for path in [
                    "/v1/reports/companies/c-1/statement", "/v1/reports/companies/c-1/aging",
                    "/v1/reports/companies/c-1/stipends?as_of=2099-01-01T00:00:00Z", "/v1/reports/universities/u-1?as_of=2099-01-01T00:00:00Z",
                    "/v1/reports/payouts?as_of=2099-01-01T00:00:00Z",
                ] {
                    let answer = try await client.call(.get, path, key: f.admin)
                    #expect(answer.status == .serviceUnavailable, "\(path)")
                    #expect(answer.json.errorCode == "unavailable", "\(path)")
                    #expect(answer.headers[.retryAfter] != nil, "\(path)")
                }
                #expect(try await client.call(.get, "/v1/reports/companies/c-1/stipends", key: f.admin).status == .ok)
            }
        }
    }

    @Test("the bound counts work under way and frees its place when the work ends")
    func counts() async throws {
        let gate = HistoryReportGate(limit: 1)
        let (entered, enter) = AsyncStream<Void>.makeStream()
        let (release, go) = AsyncStream<Void>.makeStream()
        let first = Task {
            try await gate.run {
                enter.yield()
                for await _ in release { break }
                return 1
            }
        }
        for await _ in entered { break }
        await #expect(throws: LedgerError.self) { try await gate.run { 2 } }
        go.yield()
        #expect(try await first.value == 1)
        #expect(try await gate.run { 3 } == 3)
    }
}
