import Foundation
public import LedgerCore
import LedgerProjections
public import Prometheus
import Synchronization

/// The daemon's metrics in a Prometheus registry (swift-prometheus), shown at `GET /metrics`. The
/// registry is also the swift-metrics backend `placementd` bootstraps, so what libraries record
/// through swift-metrics (Hummingbird's `MetricsMiddleware`: `hb_requests_total`,
/// `http_server_request_duration_seconds`, …) is in the same exposition. Figures that are read at
/// scrape time (the database, the projections) are set just before the registry is emitted.
public final class LedgerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    /// Upper bounds of the request latency histogram.
    static let buckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    private let eventsAppended: Counter
    private let appendRequests: Counter
    private let replayedRequests: Counter
    private let rejections: [String: Counter]
    private let databaseInFlight: Gauge
    private let databaseInFlightCount = Atomic<Int>(0)
    private let databaseUp: Gauge
    private let liveSubscriberGauge: Gauge
    private let liveSubscriberCount = Atomic<Int>(0)

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        eventsAppended = registry.makeCounter(descriptor: Self.name("placement_events_appended", "total", "Events recorded by append requests."))
        let requests = Self.name("placement_append_requests", "total", "Successful append requests (replayed: idempotent retries).")
        appendRequests = registry.makeCounter(descriptor: requests, labels: [("replayed", "false")])
        replayedRequests = registry.makeCounter(descriptor: requests, labels: [("replayed", "true")])
        let rejected = Self.name("placement_rejections", "total", "Requests answered with an error, by error code.")
        var byCode: [String: Counter] = [:]
        for code in ErrorCode.allCases.map(\.rawValue) + ["internal", "other"] {
            byCode[code] = registry.makeCounter(descriptor: rejected, labels: [("code", code)])
        }
        rejections = byCode
        databaseInFlight = registry.makeGauge(
            descriptor: Self.name("placement_db_requests_in", "flight", "Request database operations under way (pool pressure)."))
        databaseUp = registry.makeGauge(descriptor: Self.name("placement_db", "up", "1 when the database answered this scrape."))
        liveSubscriberGauge = registry.makeGauge(
            descriptor: Self.name("placement_live_feed", "subscribers", "Connections following GET /v1/events/live."))
    }

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: metric, unitName: unit, helpText: help)
    }

    /// The size of the pool the daemon configured.
    func setPoolSize(_ size: Int) {
        registry.makeGauge(descriptor: Self.name("placement_db_pool_max", "connections", "Size of the PostgreSQL connection pool."))
            .set(Int64(size))
    }

    func liveSubscribers(_ change: Int) {
        let now = liveSubscriberCount.add(change, ordering: .relaxed).newValue
        liveSubscriberGauge.set(Int64(now))
    }

    func appended(events: Int, replayed: Bool) {
        if replayed {
            replayedRequests.increment()
        } else {
            appendRequests.increment()
            eventsAppended.increment(by: Int64(events))
        }
    }

    func rejected(_ code: String) { (rejections[code] ?? rejections["other"]!).increment() }

    func request(method: String, route: String, status: Int, elapsed: Duration) {
        registry.makeCounter(
            descriptor: Self.name("placement_http_requests", "total", "HTTP requests by method, route and status."),
            labels: [("method", method), ("route", route), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.name("placement_http_request_duration", "seconds", "HTTP request latency by method and route."),
            labels: [("method", method), ("route", route)], buckets: Self.buckets
        ).record(elapsed)
    }

    func databaseCall<R>(_ body: () async throws -> R) async rethrows -> R {
        databaseInFlight.set(Int64(databaseInFlightCount.add(1, ordering: .relaxed).newValue))
        defer { databaseInFlight.set(Int64(databaseInFlightCount.subtract(1, ordering: .relaxed).newValue)) }
        return try await body()
    }

    /// The Prometheus text exposition, with the projections' state as read now (nil: the database
    /// did not answer).
    func render(projections: [ProjectionStatus]?) -> String {
        databaseUp.set(Int64(projections == nil ? 0 : 1))
        for p in projections ?? [] {
            let labels = [("projection", p.name)]
            registry.makeGauge(
                descriptor: Self.name("placement_projection", "position", "Position up to which each projection reflects every event."),
                labels: labels
            ).set(p.position)
            registry.makeGauge(
                descriptor: Self.name("placement_projection_lag", "events", "Events recorded after that position (0 when written inline)."),
                labels: labels
            ).set(p.lag)
            registry.makeGauge(
                descriptor: Self.name("placement_projection_lag", "seconds", "Age of the oldest event a projection does not reflect."),
                labels: labels
            ).set(Double(p.lagMilliseconds) / 1000)
            registry.makeGauge(
                descriptor: Self.name("placement_projection", "rebuilding", "1 while a projection is being built (not written inline)."),
                labels: labels
            ).set(Int64(p.rebuilding ? 1 : 0))
        }
        return registry.emitToString()
    }
}
