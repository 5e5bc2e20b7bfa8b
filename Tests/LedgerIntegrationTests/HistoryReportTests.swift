import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerHTTP
import LedgerStore
import Testing

/// The statement, the aging and every `as_of` report are read from the `history` projection; the
/// rules' own fold of the log (`CompanyLines`, `HistoricLedger`) says what they must answer. A
/// random history is appended in chunks, each recorded at its own time, and the routes are asked
/// as of each chunk's time, just before it, and now, for several periods.
@Suite("Reports of the ledger's history")
struct HistoryReportTests {
    @Test("the history projection's statement, aging, stipends, payouts and university report equal the fold of the log at every recorded time")
    func historyEqualsFold() async throws {
        try await APIFixture.with { f, client in
            let events = Array(DemoHistory(postings: 30, seed: UInt64.random(in: 1...1_000_000)))
            var times: [Timestamp] = []
            let chunk = events.count / 6 + 1
            for start in stride(from: 0, to: events.count, by: chunk) {
                let answer = try await client.call(
                    .post, "/v1/events", key: f.platform, body: body(Array(events[start..<min(start + chunk, events.count)])))
                #expect(answer.status == .created)
                guard case .string(let recorded)? = answer.json["events"]?.array.last?["recorded_at"], let t = Timestamp(rfc3339: recorded)
                else {
                    Issue.record("no recorded_at")
                    return
                }
                times.append(t)
            }
            let postings = Array(Set(events.map(\.postingID)))
            let log = try await f.ledger.asApp { connection in
                try await EventStore.events(
                    ofPostings: postings, asOf: Timestamp(rfc3339: "2100-01-01T00:00:00Z")!, on: connection, logger: TestCluster.logger)
            }
            #expect(log.count == events.count)
            let companies = Set(log.compactMap { e -> String? in if case .posted(let c, _, _, _) = e.event.data { c } else { nil } }).sorted()
            let universities = Set(log.compactMap { e -> String? in if case .applied(_, let u) = e.event.data { u } else { nil } }).sorted()
            #expect(companies.count > 1 && universities.count > 1)

            // As of each chunk, a microsecond before it (the chunk left out), and with no as_of.
            let asOfs: [Timestamp?] = [nil] + times.flatMap { [Timestamp(microseconds: $0.microseconds - 1), $0] }
            let periods: [(String?, String?)] = [(nil, nil), ("2025-03-01T00:00:00Z", "2025-09-01T00:00:00Z"), ("2025-05-17T12:30:00Z", nil)]
            let ats = ["2025-08-01T00:00:00Z", "2026-12-01T00:00:00Z"]
            var compared = 0
            for asOf in asOfs {
                let seen = asOf.map { t in log.filter { $0.recordedAt <= t } } ?? log
                let ledger = HistoricLedger(events: seen)
                let asOfQuery = asOf.map { "as_of=\($0.rfc3339)" }
                func query(_ parts: [String?]) -> String {
                    let q = parts.compactMap { $0 }
                    return q.isEmpty ? "" : "?" + q.joined(separator: "&")
                }
                for company in companies {
                    for (from, to) in periods {
                        let path = "/v1/reports/companies/\(company)/statement"
                            + query([from.map { "from=\($0)" }, to.map { "to=\($0)" }, asOfQuery])
                        let answer = try await client.call(.get, path, key: f.admin)
                        let expected = CompanyStatement(
                            companyID: company, events: log, from: from.flatMap(Timestamp.init(rfc3339:)), to: to.flatMap(Timestamp.init(rfc3339:)),
                            asOf: asOf)
                        #expect(answer.status == .ok, "\(path)")
                        Self.expectSame(answer.json, expected.json, path)
                        compared += 1
                    }
                    for at in ats {
                        let path = "/v1/reports/companies/\(company)/aging" + query(["at=\(at)", asOfQuery])
                        let answer = try await client.call(.get, path, key: f.admin)
                        let expected = CompanyAging(companyID: company, events: log, at: Timestamp(rfc3339: at)!, asOf: asOf)
                        Self.expectSame(answer.json, expected.json, path)
                        compared += 1
                    }
                    // Aging now (today's rows find the placements that owe), at the time it answered.
                    let now = try await client.call(.get, "/v1/reports/companies/\(company)/aging" + query([asOfQuery]), key: f.admin)
                    if case .string(let at)? = now.json["at"], let time = Timestamp(rfc3339: at) {
                        Self.expectSame(now.json, CompanyAging(companyID: company, events: log, at: time, asOf: asOf).json, "aging now \(asOfQuery ?? "")")
                    } else {
                        Issue.record("aging now: no at in \(now.json.canonicalString.prefix(200))")
                    }
                    guard let asOf, let asOfQuery else { continue }
                    let path = "/v1/reports/companies/\(company)/stipends?\(asOfQuery)"
                    let answer = try await client.call(.get, path, key: f.admin)
                    guard case .object(var members) = try ledger.companyStipends(company) else { continue }
                    members["as_of"] = .string(asOf.rfc3339)
                    Self.expectSame(answer.json, .object(members), path)
                    compared += 1
                }
                guard let asOf, let asOfQuery else { continue }
                for (from, to) in periods {
                    for company in [nil, companies[0]] {
                        let path = "/v1/reports/payouts"
                            + query([from.map { "from=\($0)" }, to.map { "to=\($0)" }, company.map { "company_id=\($0)" }, asOfQuery])
                        let answer = try await client.call(.get, path, key: f.admin)
                        let range = (from.flatMap(Timestamp.init(rfc3339:)), to.flatMap(Timestamp.init(rfc3339:)))
                        let items = ledger.payments(from: range.0, to: range.1) { company == nil || $0.companyID == company }
                        Self.expectSame(answer.json["items"] ?? .null, .array(items.map(\.json)), path)
                        compared += 1
                    }
                    for university in universities {
                        let path = "/v1/reports/universities/\(university)"
                            + query([from.map { "from=\($0)" }, to.map { "to=\($0)" }, asOfQuery])
                        let answer = try await client.call(.get, path, key: f.admin)
                        let expected = ledger.universityFigures(
                            university, from: from.flatMap(Timestamp.init(rfc3339:)), to: to.flatMap(Timestamp.init(rfc3339:)))
                        #expect(answer.status == .ok, "\(path)")
                        var members = expected
                        members["from"] = from.map(JSON.string) ?? .null
                        members["to"] = to.map(JSON.string) ?? .null
                        members["university_id"] = .string(university)
                        members["as_of"] = .string(asOf.rfc3339)
                        Self.expectSame(answer.json, .object(members), path)
                        compared += 1
                    }
                }
            }
            #expect(compared > 100)
        }
    }

    /// Equal as canonical JSON (the reports write their long arrays as canonical bytes).
    static func expectSame(_ answer: JSON, _ expected: JSON, _ what: String) {
        // The test client's JSON reader takes no decimals (a university report's ratios): such a
        // body comes as its text, which the daemon wrote canonical.
        var a = answer.canonicalString
        if case .string(let raw) = answer, raw.first == "{" { a = raw.trimmingCharacters(in: .whitespacesAndNewlines) }
        let e = expected.canonicalString
        guard a != e else { return }
        let i = zip(a, e).prefix { $0 == $1 }.count
        Issue.record("\(what) differs at \(i): answered …\(a.dropFirst(max(0, i - 120)).prefix(300)) expected …\(e.dropFirst(max(0, i - 120)).prefix(300))")
    }
}
