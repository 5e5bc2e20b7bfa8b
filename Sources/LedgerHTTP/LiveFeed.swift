import Foundation
import Hummingbird
import HummingbirdCore
import HTTPTypes
public import LedgerCore
public import LedgerStore
public import Logging
import NIOCore
public import ServiceLifecycle
import Synchronization

/// What `GET /v1/events/live` subscribers are sent: one poll of the gap-free feed serves all of
/// them. The hub never waits for a subscriber: each has a bounded buffer, and one that falls that
/// far behind is dropped (its stream ends, and its connection is told to resume), so a slow
/// consumer can hold back neither the appends nor the other subscribers.
public final class LiveFeed: Service, Sendable, CustomStringConvertible {
    public enum Message: Sendable {
        case events([RecordedEvent])
        case heartbeat
    }

    /// Why a subscription's messages ended.
    public enum End: Sendable {
        case overflow, closing
    }

    /// One subscriber's messages; `end` says why they stopped, if the hub stopped them.
    public final class Subscription: Sendable {
        public let messages: AsyncStream<Message>
        let continuation: AsyncStream<Message>.Continuation
        private let ended = Mutex<End?>(nil)
        let id: Int

        init(id: Int, buffer: Int) {
            self.id = id
            (messages, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(buffer))
        }

        public var end: End? { ended.withLock { $0 } }

        func finish(_ reason: End) {
            ended.withLock { if $0 == nil { $0 = reason } }
            continuation.finish()
        }
    }

    let store: EventStore
    let logger: Logger
    /// Batches a subscriber may have waiting (a batch is at most one poll's page).
    let buffer: Int
    let interval: Duration
    let heartbeat: Duration

    private struct State {
        var subscribers: [Int: Subscription] = [:]
        var nextID = 0
        /// The position the hub has broadcast up to; nil while nobody subscribes.
        var cursor: Int64?
        var poked = false
        var wake: CheckedContinuation<Void, Never>?
        /// The current pause has ended (a waiter that parks after that must not stay parked).
        var pauseOver = false
        var closing = false
    }

    private let state = Mutex(State())

    public var description: String { "LiveFeed" }

    public init(
        store: EventStore, logger: Logger, buffer: Int = 256, interval: Duration = .milliseconds(250), heartbeat: Duration = .seconds(15)
    ) {
        self.store = store
        self.logger = logger
        self.buffer = buffer
        self.interval = interval
        self.heartbeat = heartbeat
    }

    public var subscribers: Int { state.withLock { $0.subscribers.count } }

    /// The position the hub has sent its subscribers up to (nil while nobody subscribes).
    public var position: Int64? { state.withLock { $0.cursor } }

    /// A new subscriber: it is sent every event that becomes gap-free above the hub's position at
    /// this moment, which is at most the gap-free horizon now (so a reader that then reads the
    /// history up to the horizon and filters what it already has misses nothing).
    public func subscribe() async throws -> Subscription {
        let horizon = try await store.horizon()
        return try state.withLock { state in
            guard !state.closing else { throw LedgerError(.unavailable, "the daemon is stopping") }
            if state.cursor == nil { state.cursor = horizon }
            state.nextID += 1
            let subscription = Subscription(id: state.nextID, buffer: buffer)
            state.subscribers[state.nextID] = subscription
            return subscription
        }
    }

    public func unsubscribe(_ subscription: Subscription) {
        state.withLock { state in
            state.subscribers[subscription.id] = nil
            if state.subscribers.isEmpty { state.cursor = nil }
        }
        subscription.continuation.finish()
    }

    /// Polls at once (this process's appends call it when a group commits).
    public func poke() {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.subscribers.isEmpty else { return nil }
            state.poked = true
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await self.loop()
        } onGracefulShutdown: {
            self.close()
        }
    }

    /// Ends every subscription (its connection says so, with the position to resume from).
    public func close() {
        let (subscribers, wake) = state.withLock { state in
            state.closing = true
            defer {
                state.subscribers = [:]
                state.wake = nil
            }
            return (Array(state.subscribers.values), state.wake)
        }
        for subscription in subscribers { subscription.finish(.closing) }
        wake?.resume()
    }

    private func loop() async {
        var lastHeartbeat = ContinuousClock.now
        while !Task.isCancelled {
            if state.withLock({ $0.closing }) { return }
            await pause()
            if ContinuousClock.now - lastHeartbeat >= heartbeat {
                lastHeartbeat = ContinuousClock.now
                broadcast(.heartbeat)
            }
            guard let cursor = state.withLock({ $0.cursor }) else { continue }
            do {
                var after = cursor
                while true {
                    let page = try await store.feed(after: after, limit: 1000)
                    guard let last = page.last else { break }
                    after = last.position
                    broadcast(.events(page))
                    state.withLock { state in state.cursor = max(state.cursor ?? after, after) }
                    if page.count < 100 { break }
                }
            } catch {
                // The database may be down for a moment: subscribers wait (heartbeats go on).
                logger.debug("the live feed's poll failed; will retry", metadata: ["ledger.error": "\(describe(error))"])
            }
        }
    }

    /// Until poked or `interval` has passed.
    private func pause() async {
        let interval = interval
        state.withLock { $0.pauseOver = false }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: interval) }
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = self.state.withLock { state -> Bool in
                        if state.poked || state.closing || state.pauseOver {
                            state.poked = false
                            return true
                        }
                        state.wake = continuation
                        return false
                    }
                    if now { continuation.resume() }
                }
            }
            _ = await group.next()
            // Whichever is left: the sleep is cancelled; a parked continuation is resumed here.
            group.cancelAll()
            let parked = state.withLock { state in
                defer { state.wake = nil }
                state.poked = false
                state.pauseOver = true
                return state.wake
            }
            parked?.resume()
        }
    }

    private func broadcast(_ message: Message) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscription in subscribers {
            if case .dropped = subscription.continuation.yield(message) {
                logger.notice("a live feed subscriber fell behind and was dropped (told to resume)")
                state.withLock { state in
                    state.subscribers[subscription.id] = nil
                    if state.subscribers.isEmpty { state.cursor = nil }
                }
                subscription.finish(.overflow)
            }
        }
    }
}

/// Server-Sent Events framing of the live feed.
enum ServerSentEvents {
    /// One message per event: `id:` its position, `event: ledger_event`, `data:` its JSON (one line:
    /// canonical JSON has no newlines).
    static func write(_ events: [RecordedEvent], into buffer: inout ByteBuffer) {
        for event in events {
            buffer.writeString("id: \(event.position)\nevent: ledger_event\ndata: ")
            buffer.writeBytes(event.json.canonicalBytes)
            buffer.writeString("\n\n")
        }
    }

    static func notice(_ name: String, _ members: [String: JSON]) -> ByteBuffer {
        ByteBuffer(string: "event: \(name)\ndata: \(JSON.object(members).canonicalString)\n\n")
    }
}

extension LedgerAPI {
    func addLiveFeedRoute(to v1: RouterGroup<LedgerRequestContext>) {
        v1.get("events/live") { request, context in try await self.liveFeed(request, context) }
    }

    /// `GET /v1/events/live?after=P` (or `Last-Event-ID: P`): the history after P, then each event
    /// as it becomes gap-free. A page of history is written at a time, so a long history streams.
    func liveFeed(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        _ = try context.require(.platform, .admin, action: "follow the live feed")
        guard let live else { throw LedgerError(.unavailable, "this daemon serves no live feed") }
        var after = try request.uri.queryParameters.optionalInteger("after", range: 0...Int64.max) ?? 0
        if let last = request.headers[.lastEventID] {
            guard let position = Int64(last.trimmingCharacters(in: .whitespaces)), position >= 0 else {
                throw LedgerError(.invalidField, "Last-Event-ID must be the position of the last event received", field: "Last-Event-ID")
            }
            after = position
        }
        let start = after
        // Fails here, as an answer (503), when the database is down; later failures close the stream.
        _ = try await db { try await self.store.horizon() }
        let store = store, metrics = metrics
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.init("X-Accel-Buffering")!] = "no"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                metrics.liveSubscribers(+1)
                defer { metrics.liveSubscribers(-1) }
                var sent = start
                func history() async throws {
                    while true {
                        let page = try await store.feed(after: sent, limit: 1000)
                        guard let last = page.last else { return }
                        var buffer = ByteBuffer()
                        ServerSentEvents.write(page, into: &buffer)
                        try await writer.write(buffer)
                        sent = last.position
                    }
                }
                // The history first, then a subscription, then what arrived meanwhile: a long
                // history is never held in a subscriber's buffer.
                try await history()
                let subscription = try await live.subscribe()
                defer { live.unsubscribe(subscription) }
                try await history()
                try await writer.write(ServerSentEvents.notice("live", ["after": .int(sent)]))
                // A graceful shutdown drains the server's connections before it stops the hub:
                // this connection ends itself, telling the client where to resume.
                try await withGracefulShutdownHandler {
                    for await message in subscription.messages {
                        switch message {
                        case .events(let events):
                            let fresh = events.filter { $0.position > sent }
                            guard let last = fresh.last else { continue }
                            var buffer = ByteBuffer()
                            ServerSentEvents.write(fresh, into: &buffer)
                            try await writer.write(buffer)
                            sent = last.position
                        case .heartbeat:
                            try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                        }
                    }
                } onGracefulShutdown: {
                    subscription.finish(.closing)
                }
                if let end = subscription.end {
                    let reason = end == .overflow ? "this connection fell too far behind the live feed" : "the daemon is stopping"
                    try await writer.write(
                        ServerSentEvents.notice(
                            "resume",
                            [
                                "reason": .string(reason), "after": .int(sent),
                                "message": .string("reconnect with Last-Event-ID: \(sent) to continue without a gap"),
                            ]))
                }
                try await writer.finish(nil)
            })
    }
}

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
}
