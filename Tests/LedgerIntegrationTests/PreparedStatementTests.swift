import LedgerCore
import LedgerProjections
@testable import LedgerStore
import PostgresNIO
import Testing

@Suite("Prepared append statements")
struct PreparedStatementTests {
    @Test("a prepared append statement that fails leaves its connection usable: ROLLBACK and the next statements answer")
    func failedExecutionLeavesConnectionUsable() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-prepared")
            let first = try await ledger.store.append([e.posted()])
            let recorded = first.events[0]
            try await ledger.asApp { connection in
                for _ in 0..<3 {
                    try await connection.run("BEGIN", logger: TestCluster.logger)
                    // The same position again: a unique violation at execution.
                    var write = WriteEvents()
                    write.positions = [recorded.position]
                    write.ids = ["00000000-0000-4000-8000-00000000abcd"]
                    write.postings = ["p-prepared"]
                    write.versions = [2]
                    write.types = ["applied"]
                    write.occurred = [0]
                    write.expected = [-1]
                    write.actors = [""]
                    write.data = ["{}"]
                    write.prevs = [""]
                    write.hashes = [""]
                    await #expect(throws: PSQLError.self) {
                        for try await _ in try await connection.run(write, logger: TestCluster.logger) {}
                    }
                    try await abandoning(after: .seconds(5)) {
                        try await connection.run("ROLLBACK", logger: TestCluster.logger)
                    }
                    let one = try await abandoning(after: .seconds(5)) {
                        var value = 0
                        for try await v in try await connection.run(LockStreams(postingIDs: ["p-prepared"], paymentRefs: [], eventIDs: []), logger: TestCluster.logger) {
                            value += v.0 == 1 ? 1 : 0
                        }
                        return value
                    }
                    #expect(one == 1)
                    try await connection.run("ROLLBACK", logger: TestCluster.logger)
                }
            }
        }
    }

    @Test("the read models' CTEs take their parameters right after the store's own")
    func readModelParametersFollowTheStore() throws {
        let used = WriteEvents<NoReadModelRows>.sql.matches(of: /\$(\d+)/).compactMap { Int($0.1) }
        #expect(used.max() == writeEventsParameterCount)
        #expect(ReadModelRowsParameters.first == writeEventsParameterCount + 1)
        #expect(try WriteEvents().makeBindings().count == writeEventsParameterCount)
    }

    @Test("the lock statement answers the same prepared and planned with its values (small groups and imports)")
    func preparedAndUnpreparedAgree() async throws {
        try await TestLedger.with { ledger in
            var a = Events("p-agree-a"), b = Events("p-agree-b")
            let recorded = try await ledger.store.append([a.posted(), a.applied("s-1"), b.posted()])
            try await ledger.asApp { connection in
                let statement = LockStreams(
                    postingIDs: ["p-agree-a", "p-agree-b", "p-none"], paymentRefs: ["r-none"],
                    eventIDs: recorded.events.map(\.event.id) + ["00000000-0000-4000-8000-00000000dcba"])
                var answers: [[String]] = []
                for prepared in [true, false] {
                    try await connection.run("BEGIN", logger: TestCluster.logger)
                    var rows: [String] = []
                    for try await row in try await connection.run(statement, prepared: prepared, logger: TestCluster.logger) where row.0 != 0 {
                        rows.append("\(row.0) \(row.1 ?? "-") \(row.2 ?? -1) \(row.3 ?? -1) \(row.4 ?? "-")")
                    }
                    try await connection.run("ROLLBACK", logger: TestCluster.logger)
                    answers.append(rows.sorted())
                }
                #expect(answers[0] == answers[1])
                #expect(answers[0].count == 5, "two streams and three recorded ids: \(answers[0])")
            }
        }
    }

    @Test("a small group's lock and write statements run their generic plans instead of being planned on every append")
    func smallGroupsRunGenericPlans() async throws {
        try await TestLedger.with { ledger in
            try await ledger.asApp { connection in
                for n in 0..<8 {
                    var e = Events("p-generic-\(n)")
                    let results = try await connection.transaction(logger: TestCluster.logger) {
                        try await ledger.store.appendOnce([AppendRequest(events: [e.posted()])], mode: .atomic, on: connection)
                    }
                    #expect(try results[0].get().events.count == 1)
                }
                var plans: [String: (generic: Int64, custom: Int64)] = [:]
                let rows = try await connection.run(
                    "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'placement_%'", logger: TestCluster.logger)
                for try await (name, generic, custom) in rows.decode((String, Int64, Int64).self) { plans[name] = (generic, custom) }
                // Summed over the statement's variants (the write statement has one per set of tables).
                func total(_ prefix: String) -> (generic: Int64, custom: Int64) {
                    plans.filter { $0.key.hasPrefix(prefix) }.values.reduce((0, 0)) { ($0.0 + $1.generic, $0.1 + $1.custom) }
                }
                let lock = total("placement_lock_streams"), write = total("placement_write_events")
                #expect(lock.generic == 8 && lock.custom == 0, "lock statement plans: \(plans)")
                #expect(write.generic == 8 && write.custom == 0, "write statement plans: \(plans)")
            }
        }
    }
}
