import LedgerCore
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
}
