import LedgerCore
import LedgerStore
import PostgresNIO
import Testing

@Suite("Fold batches of the log")
struct FoldBatchTests {
    @Test("a fold batch turns bitmap scans and sorts off for itself only, and returns the next events in position order")
    func fetchSettings() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-fetch")
            let appended = try await ledger.store.append([e.posted()] + (0..<30).map { e.applied("s-\($0)") })
            let positions = appended.events.map(\.position)
            try await ledger.asApp { connection in
                func settings() async throws -> [String] {
                    var values: [String] = []
                    for try await value in try await connection.run(
                        "SELECT current_setting('enable_bitmapscan') || ',' || current_setting('enable_sort')", logger: TestCluster.logger
                    ).decode(String.self) { values.append(value) }
                    return values
                }
                try await connection.run("BEGIN", logger: TestCluster.logger)
                // Other suites' transactions on the shared cluster can hold the gap-free horizon back a while.
                var events: [RecordedEvent] = []
                let deadline = ContinuousClock.now + .seconds(20)
                while events.count < 10, ContinuousClock.now < deadline {
                    events = try await EventStore.foldBatch(
                        after: positions[4], limit: 10, bound: .now, on: connection, logger: TestCluster.logger)
                    if events.count < 10 { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(events.map(\.position) == Array(positions[5..<15]))
                #expect(try await settings() == ["on,on"], "the settings come back for the rest of the transaction")
                // What the fetch runs under: the plan walks the primary key.
                try await connection.run(
                    "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)",
                    logger: TestCluster.logger)
                var plan: [String] = []
                for try await line in try await connection.run(
                    "EXPLAIN SELECT position FROM events WHERE position > \(positions[4]) ORDER BY position LIMIT 10", logger: TestCluster.logger
                ).decode(String.self) { plan.append(line) }
                #expect(plan.contains { $0.contains("Index") && $0.contains("events_pkey") }, "\(plan)")
                #expect(!plan.contains { $0.contains("Sort") || $0.contains("Bitmap") }, "\(plan)")
                try await connection.run("ROLLBACK", logger: TestCluster.logger)
            }
        }
    }
}
