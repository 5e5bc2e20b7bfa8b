import Foundation
import LedgerCore
import LedgerProjections
@testable import LedgerStore
import PostgresNIO
import Testing

/// A logical restore into another cluster, as an operator does it: the restored log's positions
/// come from transaction ids the new cluster has not reached, and `migrate` alone must make the
/// ledger safe to write.
@Suite("Restore")
struct RestoreTests {
    @Test("pg_dump, a fresh cluster, pg_restore, migrate: new events land above every restored one, a reader at the old end sees them, verify passes")
    func dumpRestoreMigrate() async throws {
        try await TestLedger.with { ledger in
            // The source cluster's transaction ids are 50 million further on than a fresh cluster's
            // (as a ledger's are after a while): its events are appended with that much added to the
            // clock, which is set back before the dump, so the dump holds the usual offset and
            // positions a fresh cluster's ids have not reached. The log is sealed.
            try await ledger.exec("UPDATE ledger_clock SET position_offset = position_offset + 50000000")
            var batch: [Event] = []
            for n in 0..<40 {
                var e = Events("p-restore-\(n)")
                batch += e.placement("s-\(n)")
            }
            _ = try await ledger.store.append(batch)
            _ = try #require(try await ledger.seal())
            let highest = try await ledger.count("SELECT max(position) FROM events")
            try await ledger.exec("UPDATE ledger_clock SET position_offset = position_offset - 50000000")
            let restoredCount = batch.count
            let source = try await TestCluster.shared.cluster()
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("placement-restore-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            chmod(work, 0o777)
            defer { try? FileManager.default.removeItem(atPath: work) }
            let dump = work + "/ledger.dump"
            let dumped = try source.run(
                source.tool("pg_dump"), ["-Fc", "-h", source.socketDirectory, "-U", EmbeddedCluster.ownerUser, "-d", ledger.owner.database, "-f", dump],
                asServerUser: true)
            #expect(dumped.status == 0, "\(dumped.output)")

            // A fresh cluster, with the ledger's role (roles belong to the cluster, not the dump), and
            // the dump restored into it.
            let fresh = try EmbeddedCluster(dataDirectory: work + "/data", durable: false)
            let handle = try await onOwnThread { try fresh.start(logger: TestCluster.logger) }
            defer { handle.release() }
            let psql = fresh.tool("psql")
            for sql in ["CREATE ROLE \(EmbeddedCluster.appUser) NOLOGIN", "CREATE DATABASE \(EmbeddedCluster.databaseName)"] {
                let out = try fresh.run(psql, ["-X", "-h", fresh.socketDirectory, "-U", EmbeddedCluster.ownerUser, "-d", "postgres", "-c", sql], asServerUser: true)
                #expect(out.status == 0, "\(sql): \(out.output)")
            }
            let restored = try fresh.run(
                fresh.tool("pg_restore"), ["-h", fresh.socketDirectory, "-U", EmbeddedCluster.ownerUser, "-d", EmbeddedCluster.databaseName, dump],
                asServerUser: true)
            #expect(restored.status == 0, "\(restored.output)")

            // `placementctl migrate` opens the ledger like this; nothing else is done by hand.
            let database = try await LedgerDatabase.open(.embedded(dataDirectory: work + "/data"), durable: false, logger: TestCluster.logger)
            defer { database.close() }
            try await database.withClient(owner: false, logger: TestCluster.logger) { client in
                let store = EventStore(client: client, logger: TestCluster.logger, readModels: InlineProjections())
                var e = Events("p-after-restore")
                let new = try await store.append(e.placement("s-1")).events
                #expect(new.allSatisfy { $0.position > highest }, "\(new.map(\.position)) against \(highest)")
                // A feed reader that had read the old log to its end continues and sees them.
                try await ProjectionTests.waitUntil { try await store.feed(after: highest, limit: 100).map(\.position) == new.map(\.position) }
                #expect(try await store.feed(after: 0, limit: 1000).count == restoredCount + new.count)
                let report = try await Integrity(client: client, logger: TestCluster.logger).verify()
                #expect(report.ok, "\(report.problems.prefix(3))")
                #expect(report.sealsChecked == 1)
            }
        }
    }

    @Test("migrate refuses a restored ledger whose daemon role lacks its grants, naming the fix")
    func migrateChecksTheAppRole() async throws {
        try await TestLedger.with { ledger in
            // As a pg_restore leaves it when the role did not exist yet: the GRANTs were skipped.
            try await ledger.exec("REVOKE INSERT ON events FROM placement_app")
            do {
                _ = try await LedgerDatabase.open(owner: ledger.owner, app: ledger.app, logger: TestCluster.logger)
                Issue.record("migrate accepted a daemon role without INSERT on events")
            } catch let error as ConfigurationError {
                #expect(error.message.contains("placement_app lacks its privileges") && error.message.contains("docs/operations.md"), "\(error.message)")
            }
            try await ledger.exec("GRANT INSERT ON events TO placement_app")
            let reopened = try await LedgerDatabase.open(owner: ledger.owner, app: ledger.app, logger: TestCluster.logger)
            reopened.close()
        }
    }
}
