import NIOCore
import NIOPosix
import Synchronization

/// Thrown by `abandoning` when the body did not finish in time.
public struct Abandoned: Error, CustomStringConvertible {
    public var limit: Duration
    public var description: String { "gave up after \(limit)" }
}

/// Runs `body`, cancels it after `cancelAfter` and stops waiting for it after `limit`: past that
/// the caller gets `Abandoned` while the body goes on by itself until it ends.
///
/// PostgresNIO 1.33.2 drops a statement written to a connection whose channel has just closed, and
/// its caller then waits for ever and cannot be cancelled (docs/postgresnio-lost-statement.md).
/// `PostgresConnection.run` closes that window by checking and writing in one event-loop job; this
/// is the backstop for the callers that cannot afford a hang of any cause: the leader of an append
/// group, which every other append waits behind, and every request's database work (`withDeadline`
/// in LedgerHTTP), which must answer within its deadline even when the network has cut the
/// database off. Its work is the one unstructured task per call.
public func abandoning<R: Sendable>(
    after limit: Duration, cancelAfter: Duration? = nil, _ body: @escaping @Sendable () async throws -> R
) async throws -> R {
    let outcome = OnceOutcome<R>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
            outcome.install(continuation)
            let work = Task {
                do { outcome.resume(.success(try await body())) } catch { outcome.resume(.failure(error)) }
            }
            // The timers are event-loop tasks: a scheduled task costs a fraction of a Swift task and its sleep.
            let loop = MultiThreadedEventLoopGroup.singleton.any()
            let early = cancelAfter.flatMap { $0 < limit ? loop.scheduleTask(in: TimeAmount($0)) { work.cancel() } : nil }
            let late = loop.scheduleTask(in: TimeAmount(limit)) {
                work.cancel()
                outcome.resume(.failure(Abandoned(limit: limit)))
            }
            outcome.onResume {
                early?.cancel()
                late.cancel()
            }
            outcome.onCancel { work.cancel() }
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

    /// Runs `callback` once the outcome is decided (now, if it is already).
    ///
    /// No key paths here: a key path into a generic class's state is instantiated at run time on
    /// every use, which took 9 % of placementd's CPU on the read routes.
    func onResume(_ callback: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.done { return true }
            s.onResume = callback
            return false
        }
        if now { callback() }
    }

    /// Runs `callback` once the caller is cancelled (now, if it is already).
    func onCancel(_ callback: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.cancelled { return true }
            s.onCancel = callback
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
