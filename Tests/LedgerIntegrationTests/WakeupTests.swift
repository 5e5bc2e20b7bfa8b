@testable import LedgerStore
import Testing

// The projection workers' wake-up (pure: no database).
@Suite("Wake-up signal")
struct WakeupTests {
    @Test("a wait returns the highest position signalled, and the wait after it is not woken by the earlier wait's timer")
    func positionsAndStaleTimers() async throws {
        let wakeup = Wakeup()
        wakeup.signal(upTo: 3)
        wakeup.signal(upTo: 9)
        wakeup.signal(upTo: 5)
        #expect(await wakeup.wait(timeout: .seconds(60)) == 9)
        // The first wait's timer was cancelled when the signal woke it; it must leave nothing behind
        // (it used to signal, and every wake-up cost the worker a second, empty batch).
        let later = Task {
            try await Task.sleep(for: .milliseconds(200))
            wakeup.signal(upTo: 12)
        }
        #expect(await wakeup.wait(timeout: .seconds(60)) == 12)
        try await later.value
    }

    @Test("a signal without a position, a timeout and a cancellation each return nil")
    func unknown() async throws {
        let wakeup = Wakeup()
        wakeup.signal(upTo: 4)
        wakeup.signal()
        #expect(await wakeup.wait(timeout: .seconds(60)) == nil, "another process's signal says nothing of positions")

        #expect(await wakeup.wait(timeout: .milliseconds(50)) == nil, "the poll timeout")

        let waiting = Task { await wakeup.wait(timeout: .seconds(3600)) }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        #expect(await waiting.value == nil, "cancellation ends the wait")

        // Signals consumed by a wait are gone: the next one waits for a new signal.
        let later = Task {
            try await Task.sleep(for: .milliseconds(100))
            wakeup.signal(upTo: 20)
        }
        #expect(await wakeup.wait(timeout: .seconds(60)) == 20)
        try await later.value
    }
}
