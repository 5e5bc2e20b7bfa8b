import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP request of a workload.
struct LoadRequest: Sendable {
    var method: HTTPMethod = .GET
    var path: String
    var body: ByteBuffer?
    /// Events the request carries (throughput counts events, not requests).
    var events = 1
    /// A key other than the load's default.
    var authorization: String?
    /// For per-route figures.
    var label: String?
    var started: ContinuousClock.Instant?
}

struct LoadResponse: Sendable {
    var status: Int
    var position: Int64?
    var body: ByteBuffer
}

/// A keep-alive HTTP/1.1 connection that sends one request at a time (a closed-loop client).
struct HTTPConnection {
    let inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
}

/// What one load run measured.
struct LoadResult: Sendable {
    var requests = 0
    var events = 0
    var failures = 0
    var statuses: [Int: Int] = [:]
    var firstFailure: String?
    var elapsed: Duration = .zero
    /// Microseconds.
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)

    var eventsPerSecond: Double { elapsed > .zero ? Double(events) / elapsed.seconds : 0 }
    func percentileMilliseconds(_ p: Double) -> Double { Double(latency.valueAtPercentile(p)) / 1000 }

    mutating func merge(_ other: LoadResult) {
        requests += other.requests
        events += other.events
        failures += other.failures
        for (status, count) in other.statuses { statuses[status, default: 0] += count }
        firstFailure = firstFailure ?? other.firstFailure
        latency.add(other.latency)
    }
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}

/// Drives the daemon over real HTTP from this process.
struct HTTPLoad: Sendable {
    var host: String
    var port: Int
    var authorization: String
    let group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

    /// A new HTTP/1.1 connection to the daemon.
    private func connect() async throws -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart> {
        try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Opens a connection and runs `body` with a function that sends one request and returns its response.
    func withConnection<R: Sendable>(
        _ body: (_ send: (LoadRequest) async throws -> LoadResponse) async throws -> R
    ) async throws -> R {
        let channel = try await connect()
        let host = self.host, authorization = self.authorization
        return try await channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            return try await body { request in
                var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.path)
                head.headers.add(name: "Host", value: host)
                head.headers.add(name: "Authorization", value: "Bearer \(request.authorization ?? authorization)")
                if let body = request.body {
                    head.headers.add(name: "Content-Type", value: "application/json")
                    head.headers.add(name: "Content-Length", value: String(body.readableBytes))
                }
                try await outbound.write(.head(head))
                if let body = request.body { try await outbound.write(.body(.byteBuffer(body))) }
                try await outbound.write(.end(nil))
                var response = LoadResponse(status: 0, position: nil, body: ByteBuffer())
                while let part = try await iterator.next() {
                    switch part {
                    case .head(let head):
                        response.status = Int(head.status.code)
                        response.position = head.headers.first(name: "X-Ledger-Position").flatMap { Int64($0) }
                    case .body(var buffer):
                        response.body.writeBuffer(&buffer)
                    case .end:
                        return response
                    }
                }
                throw LoadError("the daemon closed the connection")
            }
        }
    }

    /// Sends a GET for an endless answer (Server-Sent Events) and calls `received` with each part
    /// of its body as it arrives, until `stop` says so (checked every 20 ms and after each part).
    /// Throws if the answer is not 200.
    func stream(_ path: String, stop: @escaping @Sendable () -> Bool, received: @escaping @Sendable (ByteBuffer) -> Void) async throws {
        let channel = try await connect()
        let host = self.host, authorization = self.authorization
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Closing the channel ends the reader's wait for a part that may come only with the
            // next heartbeat.
            group.addTask {
                while !stop() { try await Task.sleep(for: .milliseconds(20)) }
                channel.channel.close(promise: nil)
            }
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
                    head.headers.add(name: "Host", value: host)
                    head.headers.add(name: "Authorization", value: "Bearer \(authorization)")
                    head.headers.add(name: "Accept", value: "text/event-stream")
                    try await outbound.write(.head(head))
                    try await outbound.write(.end(nil))
                    do {
                        for try await part in inbound {
                            switch part {
                            case .head(let head) where head.status != .ok: throw LoadError("GET \(path) answered \(head.status.code)")
                            case .head: break
                            case .body(let buffer): received(buffer)
                            case .end: return
                            }
                            if stop() { return }
                        }
                    } catch where stop() {
                        // The channel closed under the reader on purpose.
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Closed loop: `clients` connections, each sending the next request as soon as the previous
    /// one is answered, until `duration` has passed or its requests run out. `next(client)` gives a
    /// client's next request (nil: done); `check` says whether a response is a success.
    func closedLoop(
        clients: Int, duration: Duration,
        next: @escaping @Sendable (Int) -> LoadRequest?,
        check: @escaping @Sendable (LoadRequest, LoadResponse) -> Bool = { _, r in (200..<300).contains(r.status) },
        onSuccess: @escaping @Sendable (LoadRequest, LoadResponse, ContinuousClock.Instant) -> Void = { _, _, _ in }
    ) async throws -> LoadResult {
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + duration
        var total = try await withThrowingTaskGroup(of: LoadResult.self) { group in
            for client in 0..<clients {
                group.addTask {
                    try await withConnection { send in
                        var result = LoadResult()
                        while clock.now < end, let request = next(client) {
                            let sent = clock.now
                            let response = try await send(request)
                            let done = clock.now
                            result.record(request, response, latency: done - sent, ok: check(request, response))
                            if check(request, response) { onSuccess(request, response, done) }
                        }
                        return result
                    }
                }
            }
            var total = LoadResult()
            for try await result in group { total.merge(result) }
            return total
        }
        total.elapsed = clock.now - start
        return total
    }

    /// Open loop: requests are due at a fixed `rate` per second (spread over `connections`), whether
    /// or not earlier ones were answered; latency counts from when a request was due.
    func openLoop(
        rate: Int, connections: Int, duration: Duration,
        next: @escaping @Sendable (Int) -> LoadRequest?,
        onSuccess: @escaping @Sendable (LoadRequest, LoadResponse, ContinuousClock.Instant) -> Void
    ) async throws -> LoadResult {
        let clock = ContinuousClock()
        let start = clock.now
        let perConnection = Double(rate) / Double(connections)
        let interval = Duration.nanoseconds(Int64(1e9 / perConnection))
        let count = Int(duration.seconds * perConnection)
        var total = try await withThrowingTaskGroup(of: LoadResult.self) { group in
            for client in 0..<connections {
                group.addTask {
                    try await withConnection { send in
                        var result = LoadResult()
                        // Stagger the connections over one interval.
                        var due = start + interval * (Double(client) / Double(connections))
                        for _ in 0..<count {
                            guard let request = next(client) else { break }
                            if due > clock.now { try await Task.sleep(until: due, clock: clock) }
                            let response = try await send(request)
                            let done = clock.now
                            let ok = (200..<300).contains(response.status)
                            result.record(request, response, latency: done - due, ok: ok)
                            if ok { onSuccess(request, response, done) }
                            due += interval
                        }
                        return result
                    }
                }
            }
            var total = LoadResult()
            for try await result in group { total.merge(result) }
            return total
        }
        total.elapsed = clock.now - start
        return total
    }
}

extension LoadResult {
    mutating func record(_ request: LoadRequest, _ response: LoadResponse, latency: Duration, ok: Bool) {
        requests += 1
        statuses[response.status, default: 0] += 1
        _ = self.latency.record(UInt64(max(0, latency.seconds * 1e6)))
        if ok {
            events += request.events
        } else {
            failures += 1
            if firstFailure == nil {
                firstFailure = "\(request.method) \(request.path) → \(response.status): \(String(buffer: response.body).prefix(300))"
            }
        }
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
