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
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A hot standby of the test cluster: a base backup taken with `pg_basebackup` over the primary's
/// socket, started as a streaming replica that listens on loopback TCP.
struct Standby: Sendable {
    let primary: EmbeddedCluster
    let pgdata: String
    let port: Int

    static func start(from primary: EmbeddedCluster) async throws -> Standby {
        try await onOwnThread { try startBlocking(from: primary) }
    }

    private static func startBlocking(from primary: EmbeddedCluster) throws -> Standby {
        let pgdata = "/tmp/placement-standby-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let backup = try primary.run(
            primary.tool("pg_basebackup"),
            ["-h", primary.socketDirectory, "-U", EmbeddedCluster.ownerUser, "-D", pgdata, "-R", "-X", "stream", "-c", "fast"],
            asServerUser: true)
        guard backup.status == 0 else { throw TestDatabaseFailure(description: "pg_basebackup failed: \(backup.output)") }
        let port = try freeLoopbackPort()
        let options = "-c listen_addresses=127.0.0.1 -p \(port) -c unix_socket_directories='' -c hot_standby=on -c fsync=off -c max_connections=\(primary.maxConnections)"  // a hot standby needs at least the primary's
        let started = try primary.run(
            primary.tool("pg_ctl"), ["-D", pgdata, "-l", pgdata + "/standby.log", "-w", "-t", "60", "-o", options, "start"],
            asServerUser: true)
        guard started.status == 0 else {
            let log = (try? String(contentsOfFile: pgdata + "/standby.log", encoding: .utf8)) ?? ""
            throw TestDatabaseFailure(description: "the standby did not start: \(started.output) \(log.suffix(1500))")
        }
        return Standby(primary: primary, pgdata: pgdata, port: port)
    }

    /// Stopped on a thread of its own (pg_ctl is waited for), never on a cooperative one.
    func stop() async {
        let primary = primary, pgdata = pgdata
        _ = try? await onOwnThread { try Self.stopBlocking(primary: primary, pgdata: pgdata) }
    }

    static func stopBlocking(primary: EmbeddedCluster, pgdata: String) throws {
        _ = try? primary.run(primary.tool("pg_ctl"), ["-D", pgdata, "-m", "immediate", "-w", "stop"], asServerUser: true)
        _ = try? primary.run("/bin/rm", ["-rf", pgdata], asServerUser: true)
    }

    func endpoint(user: String, database: String) -> DatabaseEndpoint {
        DatabaseEndpoint(address: .tcp(host: "127.0.0.1", port: port), username: user, database: database)
    }

    /// Pauses or resumes applying the primary's WAL (the standby keeps receiving it).
    func replay(paused: Bool) async throws {
        try await LedgerDatabase.withConnection(endpoint(user: EmbeddedCluster.ownerUser, database: "postgres"), logger: TestCluster.logger) {
            try await $0.query(PostgresQuery(unsafeSQL: paused ? "SELECT pg_wal_replay_pause()" : "SELECT pg_wal_replay_resume()"), logger: TestCluster.logger)
        }
    }
}

@Suite("Read replica")
struct ReplicaTests {
    @Test("reports and lists are served from a streaming standby; min_position waits for the standby, not the primary")
    func readsFromStandby() async throws {
        try await APIFixture.with { f, _ in
            let standby = try await Standby.start(from: try await TestCluster.shared.cluster())
            do {
                try await Self.useStandby(standby, f)
            } catch {
                await standby.stop()
                throw error
            }
            await standby.stop()
        }
    }

    static func useStandby(_ standby: Standby, _ f: APIFixture) async throws {
        do {
            let replicaEndpoint = standby.endpoint(user: EmbeddedCluster.appUser, database: f.ledger.app.database)
            let replica = PostgresClient(configuration: replicaEndpoint.clientConfiguration, backgroundLogger: TestCluster.logger)
            var api = f.api
            api.reads = PositionWatch(client: replica, logger: TestCluster.logger)
            api.readsOnReplica = true
            let app = Application(router: api.buildRouter(), logger: TestCluster.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await replica.run() }
                defer { group.cancelAll() }
                try await app.test(.router) { client in
                    let ready = try await client.call(.get, "/readyz")
                    #expect(ready.status == .ok)
                    #expect(ready.json["replica"] == .string("streaming"))

                    var p1 = Events("p-r1")
                    let first = try await client.call(.post, "/v1/events", key: f.platform, body: body(p1.placement("s-1")))
                    #expect(first.status == .created)
                    let seen = try await client.call(.get, "/v1/placements?min_position=\(first.json.lastPosition)", key: f.platform)
                    #expect(seen.status == .ok)
                    #expect(seen.json["placements"]?.array.count == 1)
                    #expect(Int64(seen.headers[.ledgerPosition] ?? "") ?? 0 >= first.json.lastPosition)

                    // With replay paused, the primary's projections move on but the standby's cannot:
                    // a read that needs the new position waits for the standby, then says it lags.
                    try await standby.replay(paused: true)
                    var p2 = Events("p-r2")
                    let second = try await client.call(.post, "/v1/events", key: f.platform, body: body(p2.placement("s-2")))
                    #expect(second.status == .created)
                    let target = second.json.lastPosition
                    try await ProjectionTests.waitUntil {
                        try await f.ledger.store.client.withConnection {
                            try await ProjectionRunner.position(of: ["placements"], on: $0, logger: TestCluster.logger)
                        } >= target
                    }
                    let primaryView = try await client.call(.get, "/v1/placements?min_position=\(target)", key: f.platform)
                    #expect(primaryView.status == .serviceUnavailable)
                    #expect(primaryView.json.errorCode == "projection_lagging")
                    // Without min_position the standby answers what it has, and says which position that is.
                    let stale = try await client.call(.get, "/v1/placements", key: f.platform)
                    #expect(stale.status == .ok)
                    #expect(stale.json["placements"]?.array.count == 1)
                    #expect(Int64(stale.headers[.ledgerPosition] ?? "") ?? Int64.max < target)
                    try await standby.replay(paused: false)
                    let caughtUp = try await client.call(.get, "/v1/placements?min_position=\(target)", key: f.university)
                    #expect(caughtUp.status == .ok)
                    #expect(caughtUp.json["placements"]?.array.count == 2)
                    let report = try await client.call(.get, "/v1/reports/universities/u-1?min_position=\(target)", key: f.university)
                    #expect(report.status == .ok)
                    #expect(report.json["overall"]?["placed"] == .int(2))
                    // Appends still go to the primary: the standby is read-only.
                    var p3 = Events("p-r3")
                    let third = try await client.call(.post, "/v1/events", key: f.platform, body: body(p3.placement("s-3")))
                    #expect(third.status == .created)
                }
                // A daemon whose database turns out to be a standby (the old primary after a
                // failover): not ready, and appends answer 503 unavailable with Retry-After, not 500.
                let onStandby = LedgerAPI(
                    store: EventStore(client: replica, logger: TestCluster.logger, readModels: InlineProjections()),
                    keys: KeyCache(keys: KeyStore(client: replica, logger: TestCluster.logger)))
                try await Application(router: onStandby.buildRouter(), logger: TestCluster.logger).test(.router) { client in
                    let ready = try await client.call(.get, "/readyz")
                    #expect(ready.status == .serviceUnavailable)
                    #expect(ready.json["status"] == .string("read-only: the database is a standby"))
                    var p4 = Events("p-r4")
                    let refused = try await client.call(.post, "/v1/events", key: f.platform, body: body(p4.placement("s-4")))
                    #expect(refused.status == .serviceUnavailable)
                    #expect(refused.json.errorCode == "unavailable")
                    #expect(refused.headers[.retryAfter] != nil)
                }
            }
        }
    }
}
