import LedgerCore
@testable import LedgerHTTP
import Testing

@Suite("Request deadlines")
struct DeadlineTests {
    @Test("a body that still finishes after the deadline (a COMMIT already under way) answers its real outcome, not a 503")
    func lateOutcomeStands() async throws {
        let value = try await withDeadline(.milliseconds(50)) {
            // An unstructured task's value is not cancelled with its waiter, as a sent statement is not.
            await Task.detached {
                try? await Task.sleep(for: .milliseconds(300))
                return 42
            }.value
        }
        #expect(value == 42)
    }

    @Test("a body cancelled before it has an outcome is DeadlineExceeded; an error the ledger chose stands")
    func cancelledOrRefused() async throws {
        await #expect(throws: DeadlineExceeded.self) {
            try await withDeadline(.milliseconds(50)) {
                try await Task.sleep(for: .seconds(30))
                return 1
            }
        }
        await #expect(throws: LedgerError.self) {
            try await withDeadline(.milliseconds(50)) { () async throws -> Int in
                await Task.detached { try? await Task.sleep(for: .milliseconds(200)) }.value
                throw LedgerError(.notSelected, "student s-1 is not selected")
            }
        }
    }
}
