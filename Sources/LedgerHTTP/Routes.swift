public import Hummingbird
import HummingbirdCore
public import LedgerCore
public import LedgerStore
public import LedgerProjections
public import Logging
public import PostgresNIO

/// The HTTP API of the contract, on the real store.
public struct LedgerAPI: Sendable {
    public let store: EventStore
    public let keys: KeyCache
    public let metrics: LedgerMetrics
    /// How long a request may wait for the database before it answers 503.
    public var databaseDeadline: Duration = .seconds(5)
    /// Where the projection reads (reports, lists, postings, placements) go, and where their
    /// `min_position` waits park: a pool of their own on the primary (so reads, and readers
    /// waiting for a position, never take the connections appends need), or a PostgreSQL streaming
    /// replica (`--replica-url`). Appends, the feed and streams always use the primary.
    public var reads: PositionWatch
    /// `reads` is on a streaming replica: `/readyz` checks it, and reads cancelled by its recovery
    /// are retried.
    public var readsOnReplica = false
    /// The pool `/readyz` and `/metrics` use (they need no key): a small one of their own, so a
    /// flood of probes waits for it and never for the connections appends and reads need.
    /// nil: the store's.
    public var probeClient: (any DatabaseClient)?
    /// The key that signs placement proofs' stream heads (the seal service's); nil: proofs answer 503.
    public var proofSigner: (@Sendable () async throws -> SealSigningKey)?
    /// The hub of `GET /v1/events/live` (nil: that route answers 503).
    public var live: LiveFeed?
    /// Bounds the reports of the ledger's history running at once (see `HistoryReportGate`).
    public var historyReports = HistoryReportGate()

    /// `metrics`: where the API records (a registry of its own unless the daemon passes the one it
    /// bootstrapped swift-metrics with).
    /// `reads`: nil reads on the store's own pool.
    public init(store: EventStore, keys: KeyCache, metrics: LedgerMetrics = LedgerMetrics(), reads: PositionWatch? = nil) {
        self.store = store
        self.keys = keys
        self.metrics = metrics
        self.reads = reads ?? PositionWatch(client: store.client, logger: store.logger)
    }

    public func buildRouter() -> Router<LedgerRequestContext> {
        let router = Router(context: LedgerRequestContext.self)
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: RequestLogMiddleware(metrics: metrics))
        router.add(middleware: ErrorMiddleware(metrics: metrics))
        router.get("/healthz") { _, _ in Reply.json(.ok, .object(["status": .string("ok")])) }
        router.get("/readyz") { _, _ in try await self.ready() }
        router.get("/openapi.json") { _, _ in Reply.json(.ok, OpenAPIDocument.document) }
        router.get("/metrics") { _, _ in try await self.prometheus() }
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8",
                    .contentSecurityPolicy:
                        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'",
                    .cacheControl: "no-store",
                ],
                body: .init(byteBuffer: ByteBuffer(string: Dashboard.html)))
        }
        addSealRoutes(to: router)
        let v1 = router.group("v1").add(middleware: AuthenticationMiddleware(cache: keys))
        v1.post("events") { request, context in try await self.append(request, context) }
        v1.get("events") { request, context in try await self.feed(request, context) }
        addLiveFeedRoute(to: v1)
        addReadRoutes(to: v1)
        v1.get("me") { _, context in
            let caller = try context.caller
            return Reply.json(
                .ok, .object(["key_id": .string(caller.keyID), "role": .string(caller.role.rawValue), "org_id": caller.orgID.map(JSON.string) ?? .null]))
        }
        v1.get("postings/:posting_id/events") { request, context in try await self.postingEvents(request, context) }
        return router
    }

    func db<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) async throws -> R {
        try await metrics.databaseCall { try await withDeadline(databaseDeadline, body) }
    }

    func prometheus() async throws -> Response {
        let runner = ProjectionRunner(client: probeClient ?? store.client, logger: store.logger)
        let projections = try? await withDeadline(.seconds(2)) { try await runner.status() }
        let text = metrics.render(projections: projections)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: Operations

    func ready() async throws -> Response {
        let store = store
        let probe = probeClient ?? store.client
        do {
            let health = try await db { try await DatabaseHealth.read(probe, logger: store.logger) }
            let (current, latest, standby) = (health.schemaVersion, health.expectedSchemaVersion, health.isStandby)
            guard !standby else {
                // Appends would fail: this server is a standby (after a failover, the old primary).
                return Reply.json(
                    .serviceUnavailable,
                    .object(["status": .string("read-only: the database is a standby"), "schema_version": .int(Int64(current))]))
            }
            guard current == latest else {
                return Reply.json(
                    .serviceUnavailable,
                    .object(["status": .string("migrations pending"), "schema_version": .int(Int64(current)), "expected": .int(Int64(latest))]))
            }
            // On a ledger's first start the read models are built while the daemon already runs:
            // until they exist, reads would find no tables.
            let built = try await db { try await probe.withConnection { try await ReadModel.liveTablesExist(on: $0, logger: store.logger) } }
            guard built else {
                return Reply.json(
                    .serviceUnavailable,
                    .object(["status": .string("building the read models"), "schema_version": .int(Int64(current))]))
            }
            var body: [String: JSON] = ["status": .string("ready"), "schema_version": .int(Int64(current))]
            if readsOnReplica {
                let replica = reads.client
                do {
                    let inRecovery = try await db { try await DatabaseHealth.isStandby(replica, logger: store.logger) }
                    body["replica"] = .string(inRecovery ? "streaming" : "not in recovery")
                } catch {
                    store.logger.warning("not ready: replica unreachable", metadata: ["ledger.error": "\(describe(error))"])
                    return Reply.json(
                        .serviceUnavailable,
                        .object(["status": .string("replica unreachable"), "schema_version": .int(Int64(current))]))
                }
            }
            return Reply.json(.ok, .object(body))
        } catch let error as ConfigurationError {
            // The schema is newer than this binary, or a released migration was edited.
            store.logger.warning("not ready", metadata: ["ledger.error": "\(error.message)"])
            return Reply.json(.serviceUnavailable, .object(["status": .string("schema incompatible"), "message": .string(error.message)]))
        } catch {
            // /readyz needs no key: the details (host names, roles, server messages) go to the log only.
            store.logger.warning("not ready: database unreachable", metadata: ["ledger.error": "\(describe(error))"])
            return Reply.error(LedgerError(.unavailable, "the database is not reachable; see the daemon's log"))
        }
    }

    // MARK: Append

    func append(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let caller = try context.require(.platform, .company, action: "append events")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > BatchLimits.maxBytes {
            throw LedgerError(.payloadTooLarge, "the body is \(length) bytes; a request holds at most \(BatchLimits.maxBytes) bytes")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: BatchLimits.maxBytes)
        } catch is NIOTooManyBytesError {
            throw LedgerError(.payloadTooLarge, "the body is larger than \(BatchLimits.maxBytes) bytes; split the batch")
        } catch {
            throw LedgerError(.invalidJSON, "the request body could not be read in full (it ended early or its chunked framing is broken)")
        }
        let events = try BatchDecision.parseBody(Array(body.readableBytesView))
        let company = caller.role == .company ? caller.orgID ?? "" : nil
        if let company { try GroupDecision.checkCompanyEvents(events, company: company) }
        let store = store
        let outcome = try await db { try await store.append(events, company: company) }
        metrics.appended(events: outcome.events.count, replayed: outcome.replayed)
        return Reply.json(
            outcome.replayed ? .ok : .created, .object(["events": .array(outcome.events.map(\.receiptJSON))]),
            position: outcome.events.map(\.position).max())
    }

    // MARK: Reads

    /// A feed page ends early once its events hold this many bytes (a page of 1,000 events of
    /// the largest size would be 32 MiB); readers continue from its last position as always.
    static let feedBytes = 4 << 20

    func feed(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        _ = try context.require(.platform, .admin, action: "read the global feed")
        let after = try request.uri.queryParameters.integer("after", default: 0, range: 0...Int64.max)
        let limit = try request.uri.queryParameters.integer("limit", default: 100, range: 1...1000)
        let store = store
        let events = try await db { try await store.feed(after: after, limit: Int(limit), bytes: Self.feedBytes) }
        return Reply.json(.ok, .object(["events": .array(events.map(\.json))]), position: events.last?.position ?? after)
    }

    func postingEvents(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let caller = try context.caller
        let id = try context.parameters.postingID()
        let store = store
        let events = try await db { try await store.stream(id) }
        guard let first = events.first, case .posted(let owner, _, _, _) = first.event.data else {
            throw LedgerError(.notFound, "no posting \(id)")
        }
        switch caller.role {
        case .platform, .admin: break
        case .company where caller.orgID == owner: break
        default: throw LedgerError(.notFound, "no posting \(id)")  // out of scope looks like absent
        }
        return Reply.json(.ok, .object(["events": .array(events.map(\.json))]), position: events.last?.position)
    }
}

extension Parameters {
    func postingID() throws -> String { try pathIdentifier("posting_id") }
}


extension FlatDictionary where Key == Substring, Value == Substring {
    func integer(_ name: String, default value: Int64, range: ClosedRange<Int64>) throws -> Int64 {
        guard let text = self[Substring(name)] else { return value }
        guard let number = Int64(text), range.contains(number) else {
            throw LedgerError(.invalidField, "\(name) must be an integer between \(range.lowerBound) and \(range.upperBound)", field: name)
        }
        return number
    }
}
