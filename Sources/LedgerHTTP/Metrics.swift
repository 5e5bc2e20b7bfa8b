import Foundation
public import LedgerCore
import LedgerStore
import LedgerProjections
import Synchronization

/// The daemon's counters and the request latency histogram, rendered in the Prometheus text format
/// at `GET /metrics` (with projection figures and database state read at scrape time).
public final class LedgerMetrics: Sendable {
    /// Upper bounds of the latency histogram, in seconds.
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Histogram {
        var counts = [UInt64](repeating: 0, count: LedgerMetrics.buckets.count)
        var count: UInt64 = 0
        var sumMicros: UInt64 = 0
    }

    struct State {
        var eventsAppended: UInt64 = 0
        var appendRequests: UInt64 = 0
        var replayedRequests: UInt64 = 0
        var rejections: [String: UInt64] = [:]
        var requests: [String: UInt64] = [:]  // "method route status"
        var latency: [String: Histogram] = [:]  // "method route"
        var databaseInFlight: Int64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    func appended(events: Int, replayed: Bool) {
        state.withLock {
            $0.appendRequests += 1
            if replayed { $0.replayedRequests += 1 } else { $0.eventsAppended += UInt64(events) }
        }
    }

    func rejected(_ code: String) { state.withLock { $0.rejections[code, default: 0] += 1 } }

    func request(method: String, route: String, status: Int, elapsed: Duration) {
        let micros = UInt64(max(0, elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000))
        let seconds = Double(micros) / 1_000_000
        state.withLock {
            $0.requests["\(method) \(route) \(status)", default: 0] += 1
            var h = $0.latency["\(method) \(route)"] ?? Histogram()
            for (i, bound) in Self.buckets.enumerated() where seconds <= bound { h.counts[i] += 1 }
            h.count += 1
            h.sumMicros += micros
            $0.latency["\(method) \(route)"] = h
        }
    }

    func databaseCall<R>(_ body: () async throws -> R) async rethrows -> R {
        state.withLock { $0.databaseInFlight += 1 }
        defer { state.withLock { $0.databaseInFlight -= 1 } }
        return try await body()
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// The Prometheus text exposition.
    func render(projections: [ProjectionStatus]?, poolSize: Int) -> String {
        let s = state.withLock { $0 }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        family("placement_events_appended_total", "counter", "Events recorded by append requests.")
        out += "placement_events_appended_total \(s.eventsAppended)\n"
        family("placement_append_requests_total", "counter", "Successful append requests (replayed: idempotent retries).")
        out += "placement_append_requests_total{replayed=\"false\"} \(s.appendRequests - s.replayedRequests)\n"
        out += "placement_append_requests_total{replayed=\"true\"} \(s.replayedRequests)\n"
        family("placement_rejections_total", "counter", "Requests answered with an error, by error code.")
        for code in ErrorCode.allCases.map(\.rawValue) + ["internal"] {
            out += "placement_rejections_total{code=\"\(code)\"} \(s.rejections[code] ?? 0)\n"
        }
        family("placement_http_requests_total", "counter", "HTTP requests by method, route and status.")
        for key in s.requests.keys.sorted() {
            let parts = key.split(separator: " ", maxSplits: 2).map(String.init)
            out += "placement_http_requests_total{method=\"\(parts[0])\",route=\"\(Self.escape(parts[1]))\",status=\"\(parts[2])\"} \(s.requests[key]!)\n"
        }
        family("placement_http_request_duration_seconds", "histogram", "HTTP request latency by method and route.")
        for key in s.latency.keys.sorted() {
            let parts = key.split(separator: " ", maxSplits: 1).map(String.init)
            let labels = "method=\"\(parts[0])\",route=\"\(Self.escape(parts[1]))\""
            let h = s.latency[key]!
            for (i, bound) in Self.buckets.enumerated() {
                out += "placement_http_request_duration_seconds_bucket{\(labels),le=\"\(bound)\"} \(h.counts[i])\n"
            }
            out += "placement_http_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(h.count)\n"
            out += "placement_http_request_duration_seconds_sum{\(labels)} \(Double(h.sumMicros) / 1_000_000)\n"
            out += "placement_http_request_duration_seconds_count{\(labels)} \(h.count)\n"
        }
        family("placement_db_pool_max_connections", "gauge", "Size of the PostgreSQL connection pool.")
        out += "placement_db_pool_max_connections \(poolSize)\n"
        family("placement_db_requests_in_flight", "gauge", "Request database operations under way (pool pressure).")
        out += "placement_db_requests_in_flight \(s.databaseInFlight)\n"
        family("placement_db_up", "gauge", "1 when the database answered this scrape.")
        out += "placement_db_up \(projections == nil ? 0 : 1)\n"
        if let projections {
            family("placement_projection_position", "gauge", "Checkpoint position of each projection.")
            for p in projections { out += "placement_projection_position{projection=\"\(p.name)\"} \(p.position)\n" }
            family("placement_projection_lag_events", "gauge", "Events recorded after each projection's checkpoint.")
            for p in projections { out += "placement_projection_lag_events{projection=\"\(p.name)\"} \(p.lag)\n" }
            family("placement_projection_lag_seconds", "gauge", "Age of the oldest event a projection has not applied.")
            for p in projections {
                out += "placement_projection_lag_seconds{projection=\"\(p.name)\"} \(Double(p.lagMilliseconds) / 1000)\n"
            }
            family("placement_projection_rebuilding", "gauge", "1 while a projection is being rebuilt.")
            for p in projections { out += "placement_projection_rebuilding{projection=\"\(p.name)\"} \(p.rebuilding ? 1 : 0)\n" }
        }
        return out
    }
}
