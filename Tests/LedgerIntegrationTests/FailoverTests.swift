import Foundation
import LedgerStore
import Logging
import PostgresNIO
import Testing

@Suite("Failover")
struct FailoverTests {
    @Test("pools stay while no host accepts writes, then move to the standby once it is promoted")
    func followsThePromotedStandby() async throws {
        // A small cluster of its own: a base backup of the shared test cluster (hundreds of test
        // databases) would load the disk under every other suite running beside this one.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("placement-failover-\(getpid())").path
        let primary = try EmbeddedCluster(dataDirectory: directory, durable: false, maxConnections: 20)
        let handle = try await onOwnThread { try primary.start(logger: TestCluster.logger) }
        let outcome: Result<Void, any Error>
        do {
            let standby = try await Standby.start(from: primary)
            do {
                try await Self.failOver(to: standby)
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            await standby.stop()
        } catch {
            outcome = .failure(error)
        }
        // pg_ctl is waited for on a thread of its own, never on a cooperative one.
        _ = try? await onOwnThread {
            handle.release()
            try? FileManager.default.removeItem(atPath: directory)
        }
        try outcome.get()
    }

    static func failOver(to standby: Standby) async throws {
        let logger = TestCluster.logger
        let down = DatabaseEndpoint(
            address: .tcp(host: "127.0.0.1", port: try freeLoopbackPort()), username: EmbeddedCluster.ownerUser, database: "postgres")
        let replica = standby.endpoint(user: EmbeddedCluster.ownerUser, database: "postgres")
        let hosts = [down, replica]

        let (none, states) = await Failover.findWritable(hosts, timeout: .seconds(10), logger: logger)
        #expect(none == nil)
        #expect(states.count == 2)
        #expect(states.last?.contains("read-only") == true, "\(states)")

        let failover = Failover(hosts: hosts, current: 0, interval: .milliseconds(100), probeTimeout: .seconds(5), logger: logger)
        let client = failover.client(maximumConnections: 2)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await failover.run() }
            defer { group.cancelAll() }
            // Several checks of the watch: the host that is down stays current while nothing accepts writes.
            try await Task.sleep(for: .milliseconds(600))
            #expect(failover.current.summary == down.summary)

            let promoted = try await onOwnThread {
                try standby.primary.run(standby.primary.tool("pg_ctl"), ["-D", standby.pgdata, "-w", "-t", "60", "promote"], asServerUser: true)
            }
            #expect(promoted.status == 0, "\(promoted.output)")
            try await ProjectionTests.waitUntil(timeout: .seconds(30), "the pools follow the promoted standby") {
                failover.current.summary == replica.summary
            }
            let writable = try await client.withConnection { connection in
                var writable = false
                for try await value in try await connection.query("SELECT NOT pg_is_in_recovery()", logger: logger).decode(Bool.self) {
                    writable = value
                }
                return writable
            }
            #expect(writable)
            let (found, _) = await Failover.findWritable(hosts, timeout: .seconds(10), logger: logger)
            #expect(found == 1)
        }
    }
}
