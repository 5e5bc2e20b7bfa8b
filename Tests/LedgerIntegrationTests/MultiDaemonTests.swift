import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerHTTP
import LedgerProjections
import LedgerStore
import Logging
import PostgresNIO
import Synchronization
import Testing

/// Several daemons behind a load balancer on one PostgreSQL: each has its own connection pool,
/// group-commit queue, key cache, router and projection workers, as separate placementd processes do.
@Suite("Several daemons on one database")
struct MultiDaemonTests {
    @Test("appends through two daemons, round-robin and racing on the same postings: every acknowledged event once, streams contiguous, the read models both wrote equal a rebuild")
    func twoDaemonsBehindABalancer() async throws {
        try await TestLedger.with { ledger in
            let platform = try await ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                try await KeyStore(client: owner, logger: TestCluster.logger).create(role: .platform, orgID: nil).secret
            }
            try await ledger.runner.prepare()
            let events = Array(DemoHistory(postings: 24, seed: UInt64.random(in: 1...1_000_000)))
            var byPosting: [String: [Event]] = [:]
            for event in events { byPosting[event.postingID, default: []].append(event) }
            let streams = byPosting.values.sorted { $0[0].postingID < $1[0].postingID }
            let acknowledged = Acknowledged()

            try await ledger.database.withClient(owner: false, logger: TestCluster.logger) { poolA in
                try await ledger.database.withClient(owner: false, logger: TestCluster.logger) { poolB in
                    let daemons = [poolA, poolB].map { pool in
                        let store = EventStore(client: pool, logger: TestCluster.logger, readModels: InlineProjections())
                        let api = LedgerAPI(store: store, keys: KeyCache(keys: KeyStore(client: pool, logger: TestCluster.logger)))
                        return (Application(router: api.buildRouter(), logger: TestCluster.logger), store)
                    }
                    do {
                        try await daemons[0].0.test(.router) { a in
                            try await daemons[1].0.test(.router) { b in
                                let balancer: [any TestClientProtocol] = [a, b]
                                try await withThrowingTaskGroup(of: Void.self) { clients in
                                    // Four clients, each sending its postings' events in order, one
                                    // request at a time, alternating daemons request by request.
                                    for c in 0..<4 {
                                        let mine = streams.enumerated().filter { $0.offset % 4 == c }.map(\.element)
                                        clients.addTask {
                                            var n = c
                                            for stream in mine {
                                                var i = 0
                                                while i < stream.count {
                                                    let chunk = Array(stream[i..<min(i + 1 + n % 3, stream.count)])
                                                    let reply = try await balancer[n % 2].call(.post, "/v1/events", key: platform, body: body(chunk))
                                                    #expect(reply.status == .created, "\(reply.json)")
                                                    for receipt in reply.json["events"]?.array ?? [] {
                                                        if case .string(let id)? = receipt["id"], case .int(let position)? = receipt["position"] {
                                                            acknowledged.positions.withLock { $0[id] = position }
                                                        }
                                                    }
                                                    i += chunk.count
                                                    n += 1
                                                }
                                            }
                                        }
                                    }
                                    // Meanwhile both daemons race to add applications to one open posting.
                                    var race = Events("p-race")
                                    let posted = race.posted(company: "c-race", openings: 50)
                                    #expect(try await a.call(.post, "/v1/events", key: platform, body: body(posted)).status == .created)
                                    let applications = (0..<40).map { race.applied("s-race-\($0)") }
                                    for (i, application) in applications.enumerated() {
                                        let daemon = balancer[i % 2]
                                        clients.addTask {
                                            let reply = try await daemon.call(.post, "/v1/events", key: platform, body: body(application))
                                            #expect(reply.status == .created, "\(reply.json)")
                                            if case .int(let position)? = reply.json["events"]?[0]?["position"] {
                                                acknowledged.positions.withLock { $0[application.id] = position }
                                            }
                                        }
                                    }
                                    try await clients.waitForAll()
                                }
                            }
                        }
                        let total = events.count + 41
                        #expect(acknowledged.positions.withLock { $0.count } == total - 1, "every request was acknowledged")
                    }
                }
            }
            // The log holds every acknowledged event exactly once, at the acknowledged position.
            let recorded = try await ledger.feed(after: 0, count: events.count + 41)
            #expect(recorded.count == events.count + 41)
            #expect(Set(recorded.map(\.event.id)).count == recorded.count, "no event twice")
            let positions = Dictionary(uniqueKeysWithValues: recorded.map { ($0.event.id, $0.position) })
            for (id, position) in acknowledged.positions.withLock({ $0 }) {
                #expect(positions[id] == position, "acknowledged \(id) at \(position)")
            }
            // Versions are 1…n in every stream, whichever daemon appended each event.
            for (posting, stream) in Dictionary(grouping: recorded, by: \.event.postingID) {
                #expect(stream.map(\.version).sorted() == Array(1...Int64(stream.count)), "\(posting) versions")
            }
            let report = try await ledger.integrity.verify()
            #expect(report.ok, "\(report.problems)")
            // What the two daemons' appends wrote equals a rebuild from position 0.
            for definition in ProjectionDefinition.all {
                let live = try await ledger.dump(definition)
                _ = try await ledger.runner.rebuild(definition)
                let rebuilt = try await ledger.dump(definition)
                for table in live.keys.sorted() {
                    ProjectionTests.expectSame(rebuilt[table] ?? [], live[table] ?? [], "\(definition.liveSchema).\(table)")
                }
            }
        }
    }
}

/// Event id → acknowledged position, filled by concurrent clients.
final class Acknowledged: Sendable {
    let positions = Mutex<[String: Int64]>([:])
}
