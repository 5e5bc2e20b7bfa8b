import LedgerCore
import LedgerProjections
import LedgerStore
import PostgresNIO
import Testing

@Suite("Append-only in the database")
struct ImmutabilityTests {
    @Test(
        "the daemon's role cannot UPDATE, DELETE or TRUNCATE events or seals",
        arguments: [
            "UPDATE events SET actor = 'x'", "DELETE FROM events", "TRUNCATE events",
            "UPDATE seals SET event_count = 0", "DELETE FROM seals", "DELETE FROM payment_refs",
        ])
    func appRoleHasNoPrivilege(_ sql: String) async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            _ = try await ledger.store.append(e.placement("s-1") + [e.paid("s-1", 10, ref: "r-1")])
            _ = try await ledger.seal()
            let error = await #expect(throws: PSQLError.self) {
                try await ledger.asApp { try await $0.query(PostgresQuery(unsafeSQL: sql), logger: TestCluster.logger) }
            }
            #expect(error.flatMap(sqlState) == "42501", "expected permission denied, got \(String(describing: error))")
            #expect(try await ledger.count() == 4)
        }
    }

    @Test(
        "even the owner is refused by the append-only triggers",
        arguments: ["UPDATE events SET actor = 'x'", "DELETE FROM events", "TRUNCATE events", "DELETE FROM seals", "TRUNCATE seals"])
    func triggersRefuseOwner(_ sql: String) async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            _ = try await ledger.store.append(e.placement("s-1"))
            _ = try await ledger.seal()
            let error = await #expect(throws: PSQLError.self) { try await ledger.exec(sql) }
            #expect(error.flatMap(sqlState) == "23001")
            #expect(error?.serverInfo?[.message]?.contains("append-only") == true)
            #expect(try await ledger.count() == 3)
        }
    }

    @Test("the daemon's role can append and read")
    func appRoleCanAppend() async throws {
        try await TestLedger.with { ledger in
            let count = try await ledger.asApp { connection in
                var n: Int64 = 0
                for try await value in try await connection.query("SELECT count(*) FROM events", logger: TestCluster.logger).decode(Int64.self) {
                    n = value
                }
                return n
            }
            #expect(count == 0)
            var e = Events("p-1")
            _ = try await ledger.store.append([e.posted()])
            #expect(try await ledger.count() == 1)
        }
    }
}
