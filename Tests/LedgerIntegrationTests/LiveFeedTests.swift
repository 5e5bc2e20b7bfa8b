import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerHTTP
import LedgerStore
import Testing

/// `GET /v1/events/live` through the real router, and its hub.
@Suite("Live feed")
struct LiveFeedTests {
    /// The messages of an SSE body: (event name, id, data) in order; comments (heartbeats) left out.
    static func messages(_ text: String) -> [(event: String, id: Int64?, data: String)] {
        text.components(separatedBy: "\n\n").compactMap { block in
            var event = "message", id: Int64?, data = ""
            for line in block.split(separator: "\n") where !line.hasPrefix(":") {
                if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                if line.hasPrefix("id: ") { id = Int64(line.dropFirst(4)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            return data.isEmpty && id == nil ? nil : (event, id, data)
        }
    }

    /// Runs `body` with a router whose API has a live feed, its hub running.
    static func withLiveFeed(
        _ f: APIFixture, heartbeat: Duration = .seconds(15),
        _ body: @escaping @Sendable (LiveFeed, any TestClientProtocol) async throws -> Void
    ) async throws {
        let live = LiveFeed(store: f.ledger.store, logger: TestCluster.logger, interval: .milliseconds(20), heartbeat: heartbeat)
        var api = f.api
        api.live = live
        let app = Application(router: api.buildRouter(), logger: TestCluster.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await live.run() }
            defer { group.cancelAll() }
            try await app.test(.router) { client in try await body(live, client) }
        }
    }

    static func stream(_ client: some TestClientProtocol, _ uri: String, key: String, headers extra: HTTPFields = [:]) async throws -> (HTTPResponse.Status, String, HTTPFields) {
        var headers = extra
        headers[.authorization] = "Bearer \(key)"
        return try await client.execute(uri: uri, method: .get, headers: headers, body: nil) { response in
            (response.status, String(buffer: response.body), response.headers)
        }
    }

    @Test("history, then each new event in order with its position as id, then a resume notice when the daemon stops")
    func historyThenLive() async throws {
        try await APIFixture.with { f, _ in
            try await Self.withLiveFeed(f) { live, client in
                var e = Events("p-live")
                let first = try await client.call(.post, "/v1/events", key: f.platform, body: body([e.posted(), e.applied("s-1"), e.applied("s-2")]))
                let history = (first.json["events"]?.array ?? []).compactMap { if case .int(let p)? = $0["position"] { p } else { nil } }
                #expect(history.count == 3)
                // Other tests' transactions in the shared cluster can hold the gap-free horizon back
                // for a moment: the history is what is gap-free when the stream starts.
                #expect(try await f.ledger.feed(after: 0, count: 3).count == 3)
                async let answer = Self.stream(client, "/v1/events/live?after=0", key: f.platform)
                try await ProjectionTests.waitUntil("a subscriber") { live.subscribers == 1 }
                let metrics = try await client.execute(uri: "/metrics", method: .get, headers: [:], body: nil) { String(buffer: $0.body) }
                #expect(metrics.contains("placement_live_feed_subscribers 1"))
                let second = try await client.call(.post, "/v1/events", key: f.platform, body: body([e.selected("s-1"), e.selected("s-2")]))
                let fresh = (second.json["events"]?.array ?? []).compactMap { if case .int(let p)? = $0["position"] { p } else { nil } }
                try await ProjectionTests.waitUntil("the hub sends the new events") { (live.position ?? 0) >= fresh.last ?? .max }
                live.close()
                let (status, text, headers) = try await answer
                #expect(status == .ok)
                #expect(headers[.contentType]?.hasPrefix("text/event-stream") == true)
                let messages = Self.messages(text)
                let events = messages.filter { $0.event == "ledger_event" }
                #expect(events.map(\.id) == (history + fresh).map(Optional.some))
                // Each message's data is the recorded event, its position the id.
                for message in events {
                    let json = try JSONParser.parse(Array(message.data.utf8))
                    #expect(json["position"] == .int(message.id ?? -1))
                    #expect(json["posting_id"] == .string("p-live"))
                }
                // The history comes before the switch to live, the new events after it.
                let live = messages.firstIndex { $0.event == "live" } ?? -1
                #expect(live == 3)
                #expect(messages.last?.event == "resume")
                #expect(messages.last?.data.contains("\"after\":\(fresh.last ?? 0)") == true)
            }
        }
    }

    @Test("Last-Event-ID resumes after that position: nothing before it again, nothing after it missed")
    func resumes() async throws {
        try await APIFixture.with { f, _ in
            try await Self.withLiveFeed(f) { live, client in
                var e = Events("p-resume")
                let appended = try await client.call(
                    .post, "/v1/events", key: f.platform, body: body([e.posted(), e.applied("s-1"), e.applied("s-2"), e.selected("s-1")]))
                let positions = (appended.json["events"]?.array ?? []).compactMap { if case .int(let p)? = $0["position"] { p } else { nil } }
                #expect(try await f.ledger.feed(after: 0, count: 4).count == 4)
                async let answer = Self.stream(client, "/v1/events/live?after=0", key: f.admin, headers: [.init("Last-Event-ID")!: "\(positions[1])"])
                try await ProjectionTests.waitUntil("a subscriber") { live.subscribers == 1 }
                live.close()
                let (status, text, _) = try await answer
                #expect(status == .ok)
                #expect(Self.messages(text).filter { $0.event == "ledger_event" }.map(\.id) == positions.dropFirst(2).map(Optional.some))
            }
        }
    }

    @Test("a subscriber that falls a buffer behind is dropped and told why; the hub goes on")
    func slowSubscriberIsDropped() async throws {
        try await APIFixture.with { f, _ in
            // Every round of the hub sends a heartbeat: a subscriber that reads nothing fills its buffer of 2.
            let live = LiveFeed(store: f.ledger.store, logger: TestCluster.logger, buffer: 2, interval: .milliseconds(5), heartbeat: .zero)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await live.run() }
                defer { group.cancelAll() }
                let slow = try await live.subscribe()
                let reader = try await live.subscribe()
                let drained = Task {
                    var n = 0
                    for await _ in reader.messages { n += 1; if n == 20 { break } }
                    return n
                }
                try await ProjectionTests.waitUntil("the slow subscriber is dropped") { slow.end == .overflow }
                #expect(await drained.value == 20)
                #expect(live.subscribers == 1)
                live.unsubscribe(reader)
                #expect(live.subscribers == 0)
            }
        }
    }

    @Test("only platform and admin keys; a bad after or Last-Event-ID is 400 invalid_field naming it")
    func refusals() async throws {
        try await APIFixture.with { f, _ in
            try await Self.withLiveFeed(f) { _, client in
                #expect(try await client.call(.get, "/v1/events/live", key: f.company).status == .forbidden)
                #expect(try await client.call(.get, "/v1/events/live", key: f.university).status == .forbidden)
                #expect(try await client.call(.get, "/v1/events/live").status == .unauthorized)
                let after = try await client.call(.get, "/v1/events/live?after=-1", key: f.platform)
                #expect(after.status == .badRequest)
                #expect(after.json.errorField == "after")
                let header = try await client.call(.get, "/v1/events/live", key: f.platform, headers: [.init("Last-Event-ID")!: "abc"])
                #expect(header.status == .badRequest)
                #expect(header.json.errorCode == "invalid_field")
                #expect(header.json.errorField == "Last-Event-ID")
            }
        }
    }
}
