public import LedgerCore
public import LedgerStore
public import Logging
public import PostgresNIO
import Synchronization

/// Where readers wait for the projections to reach a `min_position`. A waiter holds no connection:
/// it parks here until the positions it needs are seen. One poll serves every waiter (one statement
/// every `interval` while any waits, however many do), and `poke()` polls at once when this
/// process's appends commit, so a reader waiting for its own write wakes without the interval. A
/// key may hold at most `limitPerKey` waits at once; more are answered at once.
public final class PositionWatch: Sendable {
    public let client: any DatabaseClient
    let logger: Logger
    public let limitPerKey: Int
    let interval: Duration

    private enum Entry {
        /// Registered; its continuation is not stored yet.
        case pending
        /// Cancelled before its continuation was stored.
        case cancelled
        case waiting(Waiter)
    }

    private struct Waiter {
        var projections: [String]
        var position: Int64
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var perKey: [String: Int] = [:]
        var nextID = 0
        /// A poll loop is running (it ends when no one waits).
        var looping = false
        /// A poll is under way; `again` asks it to poll once more when it ends.
        var polling = false
        var again = false
    }

    private let state = Mutex(State())

    public init(client: any DatabaseClient, logger: Logger, limitPerKey: Int = 64, interval: Duration = .milliseconds(10)) {
        self.client = client
        self.logger = logger
        self.limitPerKey = limitPerKey
        self.interval = interval
    }

    /// Returns once every projection in `projections` reflects `position`; throws
    /// `projection_lagging` at `deadline`, or at once when `key` already has `limitPerKey` waits.
    public func wait(
        until position: Int64, projections: [String], key: String, deadline: ContinuousClock.Instant
    ) async throws {
        let id = try state.withLock { state in
            guard state.perKey[key, default: 0] < limitPerKey else {
                throw LedgerError(
                    .projectionLagging,
                    "this key already has \(limitPerKey) reads waiting for a min_position; retry once one of them has been answered")
            }
            state.perKey[key, default: 0] += 1
            state.nextID += 1
            state.entries[state.nextID] = .pending
            return state.nextID
        }
        defer {
            state.withLock { state in
                state.entries[id] = nil
                state.perKey[key]! -= 1
                if state.perKey[key] == 0 { state.perKey[key] = nil }
            }
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (cancelled, startLoop) = state.withLock { state -> (Bool, Bool) in
                    if case .cancelled = state.entries[id] { return (true, false) }
                    state.entries[id] = .waiting(Waiter(projections: projections, position: position, deadline: deadline, continuation: continuation))
                    defer { state.looping = true }
                    return (false, !state.looping)
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
                if startLoop { Task { await self.loop() } }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                switch state.entries[id] {
                case .pending:
                    state.entries[id] = .cancelled
                    return nil
                case .waiting(let waiter):
                    state.entries[id] = nil
                    return waiter
                case .cancelled, nil:
                    return nil
                }
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Polls now if anyone waits (this process's appends call it when a group commits).
    public func poke() {
        let anyone = state.withLock { state in !state.entries.isEmpty }
        if anyone { Task { await self.poll() } }
    }

    /// Waits registered now (parked, or about to park).
    public var waiting: Int { state.withLock { state in state.entries.count } }

    /// Polls every `interval` while anyone waits. Unstructured: it lives exactly as long as there are
    /// waiters, each of whom is answered by its deadline or removed when its request is cancelled.
    private func loop() async {
        while true {
            await poll()
            let done = state.withLock { state in
                if state.entries.isEmpty { state.looping = false }
                return !state.looping
            }
            if done { return }
            try? await Task.sleep(for: interval)
        }
    }

    /// One statement for every waiter: the position each projection reflects; then answers those
    /// whose positions are reached and those whose deadlines have passed.
    private func poll() async {
        let start = state.withLock { state in
            guard !state.polling else {
                state.again = true
                return false
            }
            state.polling = true
            return true
        }
        guard start else { return }
        while true {
            var positions: [String: Int64]?
            do {
                positions = try await client.withConnection { connection in
                    var positions: [String: Int64] = [:]
                    let rows = try await connection.run(
                        PostgresQuery(unsafeSQL: "SELECT p.name, \(ProjectionRunner.reflectedSQL) FROM projections p"), logger: logger)
                    for try await (name, position) in rows.decode((String, Int64).self) { positions[name] = position }
                    return positions
                }
            } catch {
                logger.debug("cannot read the projections' positions for min_position waiters", metadata: ["error": "\(describe(error))"])
            }
            let now = ContinuousClock.now
            let (answered, again) = state.withLock { state -> ([(CheckedContinuation<Void, any Error>, (any Error)?)], Bool) in
                var answered: [(CheckedContinuation<Void, any Error>, (any Error)?)] = []
                for (id, entry) in state.entries {
                    guard case .waiting(let waiter) = entry else { continue }
                    let reached = positions.map { known in waiter.projections.map { known[$0] ?? 0 }.min() ?? 0 }
                    if let reached, reached >= waiter.position {
                        answered.append((waiter.continuation, nil))
                    } else if now >= waiter.deadline {
                        let seen = reached.map { "have reached position \($0)" } ?? "could not be read"
                        answered.append((waiter.continuation, LedgerError(.projectionLagging, "the projections \(seen), not yet \(waiter.position); retry shortly")))
                    } else {
                        continue
                    }
                    state.entries[id] = nil
                }
                let again = state.again
                state.again = false
                if !again { state.polling = false }
                return (answered, again)
            }
            for (continuation, error) in answered {
                if let error { continuation.resume(throwing: error) } else { continuation.resume() }
            }
            if !again { return }
        }
    }
}
