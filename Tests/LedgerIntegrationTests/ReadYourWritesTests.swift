import Foundation
import HummingbirdTesting
import LedgerCore
import Synchronization
import Testing

@Suite("Read-your-writes")
struct ReadYourWritesTests {
    /// Acknowledged minutes across the writers: each adds its minutes only after its 201.
    final class Acknowledged: Sendable {
        let minutes = Atomic<Int64>(0)
    }

    @Test("under 32 concurrent writers, a read right after a 201 (no min_position) shows the event in the placement, the posting and the reports")
    func readAfterAcknowledgement() async throws {
        try await APIFixture.with { f, client in
            let writers = 32
            var setup: [Event] = []
            for w in 0..<writers {
                var e = Events("p-ryw-\(w)")
                setup += [e.posted(openings: 1, stipend: .hourly(rateMinor: 6_000, maxHours: 100, currency: "USD")), e.applied("s-\(w)"), e.selected("s-\(w)")]
            }
            #expect(try await client.call(.post, "/v1/events", key: f.platform, body: body(setup)).status == .created)
            let acknowledged = Acknowledged()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<writers {
                    group.addTask {
                        var e = Events("p-ryw-\(w)")
                        e.clock = e.clock.adding(seconds: 3600)
                        for k in 1...4 {
                            let hours = e.make(
                                .hoursLogged(studentID: "s-\(w)", minutes: 60, workDate: CivilDate(iso: "2026-03-02")!, note: nil, reason: nil))
                            let logged = try await client.call(.post, "/v1/events", key: f.platform, body: body(hours))
                            #expect(logged.status == .created)
                            acknowledged.minutes.add(60, ordering: .sequentiallyConsistent)
                            let floor = acknowledged.minutes.load(ordering: .sequentiallyConsistent)

                            let placement = try await client.call(.get, "/v1/placements/p-ryw-\(w)/s-\(w)", key: f.platform)
                            #expect(placement.json["placement"]?["minutes_logged"] == .int(Int64(60 * k)), "writer \(w), append \(k)")
                            #expect(placement.json["placement"]?["earned_minor"] == .int(Int64(6_000 * k)), "writer \(w), append \(k)")

                            let applied = try await client.call(.post, "/v1/events", key: f.platform, body: body(e.applied("s-\(w)-\(k)")))
                            #expect(applied.status == .created)
                            let posting = try await client.call(.get, "/v1/postings/p-ryw-\(w)", key: f.platform)
                            #expect(posting.json["posting"]?["applicants"] == .int(Int64(1 + k)), "writer \(w), append \(k)")

                            // Every writer's acknowledged hours, at least as many as were counted before the read.
                            let report = try await client.call(.get, "/v1/reports/universities/u-1", key: f.platform)
                            guard case .int(let minutes)? = report.json["overall"]?["minutes_logged"] else {
                                Issue.record("no minutes in \(report.json)")
                                return
                            }
                            #expect(minutes >= floor, "the report shows \(minutes) minutes; \(floor) were acknowledged before it was asked")
                            let stipends = try await client.call(.get, "/v1/reports/companies/c-1/stipends", key: f.platform)
                            guard case .array(let currencies)? = stipends.json["by_currency"], case .int(let earned)? = currencies.first?["earned_minor"]
                            else {
                                Issue.record("no earnings in \(stipends.json)")
                                return
                            }
                            #expect(earned >= floor * 100, "stipends show \(earned) earned; \(floor) minutes at 60 USD/h were acknowledged before")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(acknowledged.minutes.load(ordering: .sequentiallyConsistent) == Int64(writers * 4 * 60))
        }
    }
}
