import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerHTTP
import LedgerProjections
import LedgerStore
import Testing

/// PostgreSQL restarts under a running API: while it is down every request that needs it answers
/// 503 `unavailable` with Retry-After (never a wrong 2xx), and the API recovers by itself when it
/// returns; nothing acknowledged is lost. Uses its own embedded cluster (the shared one serves
/// the other tests).
@Suite("PostgreSQL restart")
struct RestartTests {
    @Test("the API answers 503 while PostgreSQL is down and recovers by itself, losing nothing acknowledged")
    func restart() async throws {
        let logger = TestCluster.logger
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("placement-restart-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }  // after the cluster stopped (below)
        let database = try await LedgerDatabase.open(.embedded(dataDirectory: directory), durable: false, logger: logger)
        try await afterwards(offPool: { database.close() }) {
            let cluster = try #require(database.embeddedCluster)
            let secret = try await database.withClient(owner: true, logger: logger) { owner in
                try await KeyStore(client: owner, logger: logger).create(role: .platform, orgID: nil).secret
            }
            try await database.withClient(owner: false, logger: logger) { client in
                let store = EventStore(client: client, logger: logger, readModels: InlineProjections())
                // As the daemon does when it starts: the read models exist (else /readyz waits for them).
                try await ProjectionRunner(client: client, logger: logger).prepare()
                var api = LedgerAPI(store: store, keys: KeyCache(keys: KeyStore(client: client, logger: logger)))
                api.databaseDeadline = .seconds(2)
                let app = Application(router: api.buildRouter(), logger: logger)
                try await app.test(.router) { http in
                    var e = Events("p-1")
                    let first = try await http.call(.post, "/v1/events", key: secret, body: body(e.placement("s-1")))
                    #expect(first.status == .created)

                    try await onOwnThread { cluster.stop(logger: logger) }
                    try await Task.sleep(for: .milliseconds(1100))  // past the key cache's lifetime
                    let later = e.applied("s-2")
                    for _ in 0..<3 {
                        let down = try await http.call(.post, "/v1/events", key: secret, body: body(later))
                        #expect(down.status == .serviceUnavailable)
                        #expect(down.json.errorCode == "unavailable")
                        #expect(down.headers[.retryAfter] != nil)
                    }
                    #expect(try await http.call(.get, "/v1/events", key: secret).status == .serviceUnavailable)
                    #expect(try await http.call(.get, "/readyz").status == .serviceUnavailable)

                    let restarted = try await onOwnThread { try cluster.start(logger: logger) }
                    try await afterwards(offPool: { restarted.release() }) {
                        // The same request, retried as a client would, succeeds once the pool reconnects.
                        var recovered: HTTPResponse.Status?
                        let deadline = ContinuousClock.now + .seconds(30)
                        while ContinuousClock.now < deadline {
                            let reply = try await http.call(.post, "/v1/events", key: secret, body: body(later))
                            if reply.status != .serviceUnavailable {
                                recovered = reply.status
                                break
                            }
                            try await Task.sleep(for: .milliseconds(200))
                        }
                        #expect(recovered == .created)
                        #expect(try await http.call(.get, "/readyz").status == .ok)
                        let feed = try await http.call(.get, "/v1/events?limit=100", key: secret)
                        let ids = feed.json["events"]?.array.compactMap { event -> String? in
                            if case .string(let id)? = event["id"] { id } else { nil }
                        } ?? []
                        #expect(ids.count == 4)
                        #expect(Set(ids).count == 4)
                        #expect(ids.contains(later.id))
                    }
                }
            }
        }
    }
}
