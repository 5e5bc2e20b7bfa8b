import Synchronization

/// Thrown by `abandoning` when the body did not finish in time.
public struct Abandoned: Error, CustomStringConvertible {
    public var limit: Duration
    public var description: String { "gave up after \(limit)" }
}

/// Runs `body`, cancels it after `cancelAfter` and stops waiting for it after `limit`: past that
/// the caller gets `Abandoned` while the body goes on by itself until it ends.
///
/// PostgresNIO 1.33.2 can leave a query waiting for ever on a connection the server closed under
/// load (a PostgreSQL restart with many statements in flight), and such a query cannot be
/// cancelled. Structured concurrency would wait for it with the caller: a group commit would never
/// hand off, a projection worker never retry, a graceful shutdown never end. This is the one place
/// that trades structure for liveness, so the unstructured tasks stay here.
///
/// `passCancellation: false` lets the body run on when the caller is cancelled (the caller still
/// waits for it, at most `limit`).
public func abandoning<R: Sendable>(
    after limit: Duration, cancelAfter: Duration? = nil, passCancellation: Bool = true,
    _ body: @escaping @Sendable () async throws -> R
) async throws -> R {
    let outcome = OnceOutcome<R>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
            outcome.install(continuation)
            let work = Task {
                do { outcome.resume(.success(try await body())) } catch { outcome.resume(.failure(error)) }
            }
            let timer = Task {
                if let cancelAfter, cancelAfter < limit {
                    try await Task.sleep(for: cancelAfter)
                    work.cancel()
                    try await Task.sleep(for: limit - cancelAfter)
                } else {
                    try await Task.sleep(for: limit)
                }
                work.cancel()
                outcome.resume(.failure(Abandoned(limit: limit)))
            }
            outcome.onResume { timer.cancel() }
            if passCancellation { outcome.onCancel { work.cancel() } }
        }
    } onCancel: {
        outcome.cancel()
    }
}

/// A continuation resumed once, by whichever comes first.
final class OnceOutcome<R: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<R, any Error>?
        var done = false
        var cancelled = false
        var onResume: (@Sendable () -> Void)?
        var onCancel: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<R, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    func resume(_ result: Result<R, any Error>) {
        let (continuation, callback) = state.withLock { s -> (CheckedContinuation<R, any Error>?, (@Sendable () -> Void)?) in
            guard !s.done else { return (nil, nil) }
            s.done = true
            let c = s.continuation
            s.continuation = nil
            return (c, s.onResume)
        }
        continuation?.resume(with: result)
        callback?()
    }

    func onResume(_ callback: @escaping @Sendable () -> Void) { register(callback, in: \.onResume, firedWhen: \.done) }

    func onCancel(_ callback: @escaping @Sendable () -> Void) { register(callback, in: \.onCancel, firedWhen: \.cancelled) }

    /// Keeps `callback` for later, or runs it now when what it waits for has happened already.
    private func register(
        _ callback: @escaping @Sendable () -> Void, in slot: WritableKeyPath<State, (@Sendable () -> Void)?>,
        firedWhen fired: KeyPath<State, Bool>
    ) {
        let now = state.withLock { s -> Bool in
            if s[keyPath: fired] { return true }
            s[keyPath: slot] = callback
            return false
        }
        if now { callback() }
    }

    /// The caller was cancelled: the body is told so (it still decides the outcome).
    func cancel() {
        let callback = state.withLock { s -> (@Sendable () -> Void)? in
            s.cancelled = true
            return s.onCancel
        }
        callback?()
    }
}
