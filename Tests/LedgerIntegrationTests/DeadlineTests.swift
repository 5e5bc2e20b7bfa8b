import LedgerCore
import LedgerProjections
import LedgerStore
@testable import LedgerHTTP
import Synchronization
import Testing

@Suite("Request deadlines")
struct DeadlineTests {
    @Test("a body that still finishes after the deadline (a COMMIT already under way) answers its real outcome, not a 503")
    func lateOutcomeStands() async throws {
        // A grace far longer than the body needs: the suite's other tests can hold the cooperative
        // threads for a while, and this is about the outcome, not the clock.
        let value = try await withDeadline(.milliseconds(50), grace: .seconds(60)) {
            // An unstructured task's value is not cancelled with its waiter, as a sent statement is not.
            await Task.detached {
                try? await Task.sleep(for: .milliseconds(300))
                return 42
            }.value
        }
        #expect(value == 42)
    }

    @Test("a body that neither finishes nor heeds cancellation (a statement on a connection the network cut) is answered DeadlineExceeded, not waited for")
    func cutOffBodyIsNotWaitedFor() async throws {
        let finished = Flag()
        await #expect(throws: DeadlineExceeded.self) {
            try await withDeadline(.milliseconds(50), grace: .milliseconds(100)) {
                await Task.detached {
                    try? await Task.sleep(for: .seconds(30))
                    finished.set()
                }.value
                return 1
            }
        }
        #expect(finished.isSet == false)
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
            try await withDeadline(.milliseconds(50), grace: .seconds(60)) { () async throws -> Int in
                await Task.detached { try? await Task.sleep(for: .milliseconds(200)) }.value
                throw LedgerError(.notSelected, "student s-1 is not selected")
            }
        }
    }
}

@Suite("Abandoning hung work")
struct AbandonTests {
    @Test("a body that ignores cancellation is given up after the limit, without waiting for it")
    func givesUpOnHungBody() async throws {
        let finished = Flag()
        await #expect(throws: Abandoned.self) {
            try await abandoning(after: .milliseconds(100)) {
                // As a query on a dead connection: neither finishes soon nor heeds cancellation.
                await Task.detached {
                    try? await Task.sleep(for: .seconds(30))
                    finished.set()
                }.value
                return 1
            }
        }
        // Given up, not waited for: the body is still hanging. (No clock bound on the wait: the
        // suite's synchronous tests can hold both cooperative threads for a couple of seconds.)
        #expect(finished.isSet == false)
    }
}

/// A flag one task sets and another reads.
private final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
