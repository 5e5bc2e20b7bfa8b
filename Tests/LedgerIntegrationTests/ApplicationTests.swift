import Foundation
import HummingbirdTesting
import LedgerCore
import LedgerHTTP
import LedgerStore
import Testing

@Suite("The whole daemon")
struct ApplicationTests {
    @Test("buildApplication starts what placementd runs: HTTP, the projections' preparation, the seal service; a graceful shutdown stops it all")
    func wholeDaemon() async throws {
        try await TestLedger.with { ledger in
            // A ledger whose projections nobody has prepared yet, as a new database is.
            try await ledger.exec("DROP SCHEMA proj_postings CASCADE; DROP SCHEMA proj_placements CASCADE; DELETE FROM projections")
            let key = try await ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                try await KeyStore(client: owner, logger: TestCluster.logger).create(role: .platform, orgID: nil).secret
            }
            // A seal key of the daemon's own, in a private directory.
            let keyDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("seal-keys-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: keyDirectory) }
            let keyring = SealKeyring(directory: keyDirectory)
            let sealKey = try await ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                try await keyring.create(owner: owner, logger: TestCluster.logger)
            }
            var configuration = DaemonConfiguration(
                database: ledger.app.clientConfiguration, host: "127.0.0.1", port: 0, sealInterval: .seconds(1))
            configuration.sealKeys = keyring
            let poolSize = configuration.database.options.maximumConnections
            let connections = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename = 'placement_app'"
            let before = try await ledger.count(connections)  // the test's own pool
            let app = buildApplication(configuration, logger: TestCluster.logger)
            try await app.test(.live) { client in
                #expect(try await client.call(.get, "/healthz").status == .ok)
                // The projection service prepares the read models at start; until then reads wait.
                try await ProjectionTests.waitUntil { try await ledger.count("SELECT count(*) FROM projections WHERE inline") == 2 }
                var e = Events("p-daemon")
                let appended = try await client.call(.post, "/v1/events", key: key, body: body(e.placement("s-1")))
                #expect(appended.status == .created)
                let placement = try await client.call(.get, "/v1/placements/p-daemon/s-1", key: key)
                #expect(placement.status == .ok)
                #expect(placement.json["placement"]?["status"] == .string("in_progress"))
                // The seal service seals on its interval.
                try await ProjectionTests.waitUntil { try await ledger.count("SELECT count(*) FROM seals") >= 1 }
                let seal = try #require(try await ledger.integrity.latestSeal()?.signed, "the seal is a signed Merkle seal")
                #expect(seal.keyID == sealKey.id && seal.hasValidSignature(publicKey: sealKey.publicKey))
                #expect(try await ledger.integrity.verify().ok)
                let metrics = try await client.call(.get, "/metrics")
                guard case .string(let text) = metrics.json else { Issue.record("metrics are not text"); return }
                #expect(text.contains("placement_db_pool_max_connections \(poolSize).0"))
                #expect(try await ledger.count(connections) > before)
            }
            // Shut down: the daemon's pool closed every connection it had to this database.
            // (The test's own pool may have closed idle connections meanwhile: at most as many as before.)
            var now: Int64 = -1
            try await ProjectionTests.waitUntil(timeout: .seconds(30), "connections back to \(before) after shutdown") {
                now = try await ledger.count(connections)
                return now <= before
            }
            #expect(now <= before, "\(now) connections of the app role after shutdown, \(before) before the daemon started")
        }
    }
}
