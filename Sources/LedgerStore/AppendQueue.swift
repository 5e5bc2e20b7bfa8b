import LedgerCore
import Synchronization

/// Group commit for API appends. Concurrent requests queue here; at most `maxGroups` of them at a
/// time lead a group: the leader takes the waiting requests (up to `maxGroupEvents` events) and
/// appends them all in one transaction, each request still decided on its own (one rejected request
/// records nothing and does not affect the others). When a leader finishes it hands leadership to
/// the oldest waiting request, so every transaction runs in some request's own task and a lone
/// request never waits for anyone.
final class AppendQueue: Sendable {
    enum Turn: Sendable {
        case lead
        case done(Result<AppendOutcome, any Error>)
    }

    struct Waiter: Sendable {
        var id: UInt64
        var request: AppendRequest
        var continuation: CheckedContinuation<Turn, Never>
    }

    private struct State {
        var waiting: [Waiter] = []
        var leaders = 0
        var nextID: UInt64 = 0
        /// Requests cancelled before they queued.
        var cancelled: Set<UInt64> = []
    }

    let maxGroups: Int
    let maxGroupEvents: Int
    private let state = Mutex(State())

    init(maxGroups: Int, maxGroupEvents: Int = 2 * BatchLimits.maxEvents) {
        self.maxGroups = max(1, maxGroups)
        self.maxGroupEvents = maxGroupEvents
    }

    /// Requests waiting for a group (reported by /metrics).
    var waiting: Int { state.withLock { $0.waiting.count } }

    func makeID() -> UInt64 {
        state.withLock {
            $0.nextID += 1
            return $0.nextID
        }
    }

    /// Waits for this request's turn: either to lead a group or for its result.
    func turn(id: UInt64, request: AppendRequest) async -> Turn {
        let turn = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
                let immediate = state.withLock { s -> Turn? in
                    if s.cancelled.remove(id) != nil { return .done(.failure(CancellationError())) }
                    if s.leaders < maxGroups {
                        s.leaders += 1
                        return .lead
                    }
                    s.waiting.append(Waiter(id: id, request: request, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                if let i = s.waiting.firstIndex(where: { $0.id == id }) { return s.waiting.remove(at: i) }
                s.cancelled.insert(id)
                return nil
            }
            waiter?.continuation.resume(returning: .done(.failure(CancellationError())))
        }
        // The handler cannot run any more: forget a cancellation that arrived after the turn was given.
        _ = state.withLock { $0.cancelled.remove(id) }
        return turn
    }

    /// The requests a leader with `leading` events takes along, oldest first.
    func takeFollowers(leading: Int) -> [Waiter] {
        state.withLock { s in
            var total = leading
            var count = 0
            for waiter in s.waiting {
                guard total + waiter.request.events.count <= maxGroupEvents else { break }
                total += waiter.request.events.count
                count += 1
            }
            let taken = Array(s.waiting.prefix(count))
            s.waiting.removeFirst(count)
            return taken
        }
    }

    /// A leader is done: the oldest waiting request leads next, or there is one leader fewer.
    func handOff() {
        let next = state.withLock { s -> Waiter? in
            if s.waiting.isEmpty {
                s.leaders -= 1
                return nil
            }
            return s.waiting.removeFirst()
        }
        next?.continuation.resume(returning: .lead)
    }
}
