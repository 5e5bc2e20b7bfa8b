import Foundation
public import LedgerCore
public import Logging
public import PostgresNIO
import Synchronization

/// Progress of a long build, for a terminal or a log.
public struct BuildProgress: Sendable {
    public var projection: String
    public var events: Int64
    public var total: Int64
    public var elapsed: Duration
}

/// One projection's checkpoint and state as `GET /v1/projections` and `placementctl status` show it.
public struct ProjectionStatus: Sendable {
    public var name: String
    public var version: Int
    public var codeVersion: Int
    public var position: Int64
    public var events: Int64
    /// Events recorded after the checkpoint.
    public var lag: Int64
    /// How long the first unprojected event has waited (0 when none).
    public var lagMilliseconds: Int64
    public var rebuilding: Bool
    public var rebuildPosition: Int64?

    public var json: JSON {
        var members: [String: JSON] = [
            "name": .string(name), "version": .int(Int64(version)), "position": .int(position), "events": .int(events),
            "lag": .int(lag), "lag_ms": .int(lagMilliseconds), "state": .string(rebuilding ? "rebuilding" : "live"),
        ]
        if let rebuildPosition { members["rebuild_position"] = .int(rebuildPosition) }
        return .object(members)
    }
}

/// Runs projections: live workers that follow the log, rebuilds into shadow schemas, and
/// throwaway builds for time travel.
public struct ProjectionRunner: Sendable {
    public let client: PostgresClient
    public let logger: Logger
    public var definitions: [ProjectionDefinition]
    /// This process's appends (wake the workers without a round trip through PostgreSQL).
    public var localAppends: AppendSignal?
    /// Other processes' appends, as `listenForOthers` hears of them.
    let othersAppended = AppendSignal()

    public init(
        client: PostgresClient, logger: Logger, definitions: [ProjectionDefinition] = ProjectionDefinition.all,
        localAppends: AppendSignal? = nil
    ) {
        self.client = client
        self.logger = logger
        self.definitions = definitions
        self.localAppends = localAppends
    }

    // MARK: Checkpoints

    /// Makes sure every projection has a checkpoint row and a live schema. A projection seen for
    /// the first time starts empty at position 0 and catches up live.
    public func prepare() async throws {
        try await client.withConnection { connection in
            for definition in definitions {
                try await ProjectionEngine.transaction(on: connection, logger: logger) {
                    try await connection.run("LOCK TABLE projections IN SHARE ROW EXCLUSIVE MODE", logger: logger)
                    var exists = false
                    for try await _ in try await connection.run(
                        "SELECT 1 FROM projections WHERE name = \(definition.name)", logger: logger)
                    {
                        exists = true
                    }
                    if !exists {
                        try await ProjectionEngine.create(definition, schema: definition.liveSchema, on: connection, logger: logger)
                        try await connection.run(
                            "INSERT INTO projections (name, version) VALUES (\(definition.name), \(definition.version))", logger: logger)
                    }
                }
            }
        }
    }

    /// Checkpoints, lag and state. The lag of each projection is asked with its checkpoint bound as
    /// a value: PostgreSQL plans that with the value, so a small lag is a short walk of the position
    /// index. (Asked in one statement, with the checkpoint as a correlated column, the planner
    /// guessed a third of the log behind every checkpoint and scanned the whole log: 410–510 ms for
    /// `GET /v1/projections` at 100k events.)
    public func status() async throws -> [ProjectionStatus] {
        try await client.withConnection { try await Self.statusQuery.rows(on: $0, logger: logger) }
    }

    /// Every projection's status in name order, in one statement. The lag subqueries take the
    /// checkpoint as a correlated value, which the planner takes for a third of the log: ordered by
    /// position, a walk of the index is still their cheapest plan (without the order, at 100k events,
    /// they ran sequential scans).
    public static let statusQuery = RowQuery<ProjectionStatus>(
        sql: { leading in
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(leading)p.name, p.version, p.position, p.events, p.rebuild_version IS NOT NULL, p.rebuild_position,
                        (SELECT count(*) FROM (SELECT 1 FROM events e WHERE e.position > p.position ORDER BY e.position LIMIT 10000000) x),
                        COALESCE((SELECT (extract(epoch FROM now() - e.recorded_at) * 1000)::int8 FROM events e
                                  WHERE e.position > p.position ORDER BY e.position LIMIT 1), 0)
                    FROM projections p ORDER BY p.name
                    """)
        },
        decode: { cells in
            let (name, version, position, events): (String, Int, Int64, Int64) = (try cells.next(), try cells.next(), try cells.next(), try cells.next())
            let (rebuilding, rebuildPosition, lag, lagMs): (Bool, Int64?, Int64, Int64) = (
                try cells.next(), try cells.next(), try cells.next(), try cells.next()
            )
            let code = ProjectionDefinition.named(name)?.version ?? version
            return ProjectionStatus(
                name: name, version: version, codeVersion: code, position: position, events: events, lag: lag,
                lagMilliseconds: max(0, lagMs), rebuilding: rebuilding || version != code, rebuildPosition: rebuildPosition)
        })

    /// The lowest checkpoint among `names` (what a read across them reflects).
    public static func position(of names: [String], on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        var lowest: Int64?
        for try await position in try await connection.run(
            "SELECT min(position) FROM projections WHERE name = ANY(\(names)::text[])", logger: logger
        ).decode(Int64?.self) {
            lowest = position
        }
        return lowest ?? 0
    }

    // MARK: Live

    /// Follows the log for one projection until cancelled: holds the projection's lease (a
    /// session advisory lock, so two daemons never run it twice; when the holder dies its
    /// connection closes and another takes over within `leaseRetry`), wakes on this process's
    /// appends and on other processes' NOTIFY (`listenForOthers`) with a polling fallback, and
    /// applies batches with the checkpoint in the same transaction. After catching up with at least
    /// `analyzeAfter` events in one go it analyzes its tables.
    public func runLive(
        _ definition: ProjectionDefinition, poll: Duration = .milliseconds(500), leaseRetry: Duration = .seconds(2),
        gather: Duration = .milliseconds(10), analyzeAfter: Int = ProjectionEngine.analyzeAfterCatchUp,
        onBatch: @escaping @Sendable (Int, Int64) -> Void = { _, _ in }
    ) async {
        let lease = "placement:projection:\(definition.name)"
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    // Every statement of the worker is given up after a while (see `abandoning`): a
                    // statement on a connection that died under it must not hold the worker, its
                    // lease or the daemon's shutdown. Batches run to their end even when the worker
                    // is cancelled meanwhile (shutdown looks at cancellation between batches): a
                    // transaction cut off between its statements left the pooled connection idle in
                    // transaction, holding back the gap-free horizon of every reader in the cluster.
                    @Sendable func guarded<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) async throws -> R {
                        try await abandoning(after: .seconds(15), passCancellation: false, body)
                    }
                    @Sendable func unlock() async throws {
                        try await guarded { try await connection.run("SELECT pg_advisory_unlock(hashtext(\(lease)))", logger: logger) }
                    }
                    let held = try await guarded {
                        var held = false
                        for try await value in try await connection.run(
                            "SELECT pg_try_advisory_lock(hashtext(\(lease)))", logger: logger
                        ).decode(Bool.self) {
                            held = value
                        }
                        return held
                    }
                    guard held else { return }
                    logger.info("projection lease taken", metadata: ["projection": "\(definition.name)"])
                    defer { logger.info("projection lease released", metadata: ["projection": "\(definition.name)"]) }
                    let wakeup = Wakeup()
                    let registration = localAppends?.register(wakeup)
                    let remote = othersAppended.register(wakeup)
                    defer {
                        if let registration { localAppends?.unregister(registration) }
                        othersAppended.unregister(remote)
                    }
                    do {
                        var caughtUp = 0
                        // Valid while this worker holds the lease and its batches follow each other.
                        let states = StateCache()
                        var signalled = Int64.min
                        var retry = gather
                        let retryLimit = min(poll, .milliseconds(100))
                        while !Task.isCancelled {
                            // The batch: nil when the code's version differs.
                            let batch = try await guarded { try await self.step(definition, on: connection, cache: states) }
                            guard let (count, position) = batch else {
                                _ = try await self.rebuild(definition, on: connection, progress: { p in
                                    self.logger.debug(
                                        "rebuilding projection",
                                        metadata: ["projection": "\(p.projection)", "events": "\(p.events)", "total": "\(p.total)"])
                                })
                                continue
                            }
                            if count > 0 { onBatch(count, position) }
                            caughtUp += count
                            if count < ProjectionEngine.batchSize {
                                if caughtUp >= analyzeAfter {
                                    try await guarded {
                                        try await ProjectionEngine.analyze(schema: definition.liveSchema, on: connection, logger: self.logger)
                                    }
                                    self.logger.info(
                                        "projection caught up; its tables analyzed",
                                        metadata: ["projection": "\(definition.name)", "events": "\(caughtUp)"])
                                }
                                caughtUp = 0
                            }
                            // A short batch reached the head: wait for the next append (one that
                            // came during the batch has left its signal pending) instead of asking
                            // again at once, then let the appends of the next few milliseconds join
                            // the batch. Under load this makes one projection transaction serve many
                            // appends; the lag grows by at most `gather`.
                            //
                            // `signalled` is the highest position appends reported (this process's, or
                            // another's in its NOTIFY). An append at or before the checkpoint is in it
                            // already: keep waiting. One past it that this batch did not get was not
                            // gap-free yet (an older transaction, such as the other projection's batch,
                            // was still running, and its end signals nothing): ask again shortly,
                            // backing off to at most `retryLimit`.
                            if count < ProjectionEngine.batchSize {
                                if signalled > position && count == 0 {
                                    retry = min(retry * 2, retryLimit)
                                } else {
                                    retry = gather
                                    while signalled <= position {
                                        guard let upTo = await wakeup.wait(timeout: poll) else { break }
                                        signalled = max(signalled, upTo)
                                    }
                                }
                                try? await Task.sleep(for: retry)
                            }
                        }
                    } catch let error as Abandoned {
                        // The connection is dead: nothing more can be sent on it (its lease ends with it).
                        throw error
                    } catch where !Task.isCancelled {
                        // The connection goes back to the pool: it must not keep the lease, or no
                        // worker (of this daemon or another) could take it until that connection closes.
                        try? await unlock()
                        throw error
                    }
                    // Stopping: the lease ends with the session; otherwise hand it back explicitly.
                    if Task.isCancelled { return }
                    try await unlock()
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "projection worker stopped; retrying", metadata: ["projection": "\(definition.name)", "error": "\(describe(error))"])
            }
            try? await Task.sleep(for: leaseRetry)
        }
    }

    /// Wakes this runner's workers when another process appends (its debounced NOTIFY), until
    /// cancelled; reconnects with a pause after any failure. LISTEN has a connection of its own,
    /// never a worker's: PostgresNIO 1.33.2 can hang closing a listening connection while the server
    /// restarts, and that must cost at most these wake-ups (the workers still poll), never a
    /// worker or its lease.
    public func listenForOthers(retry: Duration = .seconds(2)) async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    let notifications = try await connection.listen(ProjectionEngine.channel)
                    // The payload is the highest position the other process appended (see `notifyOthers`).
                    for try await notification in notifications { othersAppended.signal(upTo: Int64(notification.payload)) }
                }
            } catch {
                if Task.isCancelled { return }
                logger.debug("listening for other daemons' appends failed; retrying", metadata: ["error": "\(describe(error))"])
            }
            try? await Task.sleep(for: retry)
        }
    }

    /// Applies the next batch to the live schema. Returns how many events and the new checkpoint,
    /// or nil when the live schema was built by another version of the code (it needs a rebuild).
    ///
    /// The checkpoint's statement also sets up the transaction (`ProjectionEngine.settings`) and
    /// the fetch's plan (`ProjectionEngine.plannerOff`): a batch is BEGIN, that statement, the
    /// fetch and the planner's restore, then the writes and COMMIT.
    ///
    /// `cache`: the live worker's posting states as its last batch left them (see `StateCache`).
    func step(
        _ definition: ProjectionDefinition, on connection: PostgresConnection, limit: Int = ProjectionEngine.batchSize,
        cache: StateCache? = nil
    ) async throws -> (Int, Int64)? {
        var written: (states: [String: PostingState], checkpoint: Int64)?
        let result = try await ProjectionEngine.transaction(on: connection, settings: false, logger: logger) { () -> (Int, Int64)? in
            var checkpoint: (version: Int, position: Int64)?
            for try await row in try await connection.run(
                """
                SELECT version, position, \(unescaped: ProjectionEngine.settings(durable: false)), \(unescaped: ProjectionEngine.plannerOff)
                FROM projections WHERE name = \(definition.name) FOR UPDATE
                """, logger: logger
            ).decode((Int, Int64).self) {
                checkpoint = row
            }
            // No checkpoint row: nothing to do here (`prepare` makes one).
            guard let checkpoint else { return (0, 0) }
            guard checkpoint.version == definition.version else { return nil }
            let events = try await ProjectionEngine.fetch(
                after: checkpoint.position, limit: limit, bound: .now, plannerIsOff: true, on: connection, logger: logger)
            guard let last = events.last else { return (0, checkpoint.position) }
            cache?.resume(at: checkpoint.position)
            let states = try await ProjectionEngine.apply(
                events, to: definition, schema: definition.liveSchema, cache: cache, on: connection, logger: logger)
            try await connection.run(
                """
                UPDATE projections SET position = \(last.position), events = events + \(Int64(events.count)), updated_at = now()
                WHERE name = \(definition.name)
                """, logger: logger)
            written = (states, last.position)
            return (events.count, last.position)
        }
        // Committed: the cache holds what the schema holds now.
        if let written { cache?.store(written.states, checkpoint: written.checkpoint) }
        return result
    }

    /// Brings every projection up to what is committed now (tests, the CLI). Returns the positions.
    public func catchUp() async throws -> [String: Int64] {
        try await client.withConnection { connection in
            var positions: [String: Int64] = [:]
            for definition in definitions {
                while true {
                    let (count, position) = try await step(definition, on: connection) ?? (0, 0)
                    positions[definition.name] = position
                    if count == 0 { break }
                }
            }
            return positions
        }
    }

    // MARK: Rebuild

    public struct RebuildResult: Sendable {
        public var events: Int64
        public var position: Int64
        public var elapsed: Duration
    }

    /// Rebuilds a projection from position 0 into a shadow schema while the live one keeps serving,
    /// then swaps them in one transaction. Streams the log in batches; never holds it in memory.
    public func rebuild(_ definition: ProjectionDefinition, progress: @escaping @Sendable (BuildProgress) -> Void = { _ in })
        async throws -> RebuildResult
    {
        try await client.withConnection { try await rebuild(definition, on: $0, progress: progress) }
    }

    func rebuild(
        _ definition: ProjectionDefinition, on connection: PostgresConnection, progress: @escaping @Sendable (BuildProgress) -> Void
    ) async throws -> RebuildResult {
        let lock = "placement:rebuild:\(definition.name)"
        var locked = false
        for try await value in try await connection.run("SELECT pg_try_advisory_lock(hashtext(\(lock)))", logger: logger).decode(Bool.self) {
            locked = value
        }
        guard locked else {
            throw ConfigurationError("a rebuild of projection \(definition.name) is already running; wait for it to finish")
        }
        do {
            let result = try await rebuildLocked(definition, on: connection, progress: progress)
            _ = try? await connection.run("SELECT pg_advisory_unlock(hashtext(\(lock)))", logger: logger)
            return result
        } catch {
            _ = try? await connection.run(
                "UPDATE projections SET rebuild_version = NULL, rebuild_position = NULL, rebuild_started = NULL WHERE name = \(definition.name)",
                logger: logger)
            _ = try? await connection.run("SELECT pg_advisory_unlock(hashtext(\(lock)))", logger: logger)
            throw error
        }
    }

    private func rebuildLocked(
        _ definition: ProjectionDefinition, on connection: PostgresConnection, progress: @escaping @Sendable (BuildProgress) -> Void
    ) async throws -> RebuildResult {
        let clock = ContinuousClock()
        let started = clock.now
        let shadow = definition.shadowSchema
        try await ProjectionEngine.transaction(on: connection, logger: logger) {
            try await ProjectionEngine.create(definition, schema: shadow, withIndexes: false, on: connection, logger: logger)
            try await connection.run(
                """
                INSERT INTO projections (name, version, rebuild_version, rebuild_position, rebuild_started)
                VALUES (\(definition.name), \(definition.version), \(definition.version), 0, now())
                ON CONFLICT (name) DO UPDATE SET rebuild_version = EXCLUDED.rebuild_version, rebuild_position = 0,
                    rebuild_started = now()
                """, logger: logger)
        }
        var total: Int64 = 0
        for try await n in try await connection.run("SELECT count(*) FROM events", logger: logger).decode(Int64.self) { total = n }
        var position: Int64 = 0
        var done: Int64 = 0
        // Catch up in short transactions (a long one would hold every gap-free reader back), as a
        // pipeline: the next batch is read on another connection, and folded into its statements
        // (its other states read on another connection too), while this connection writes the
        // batch before. The fold and the writes took turns before, and each is half of the time.
        var pending = prefetch(after: position, bound: .now)
        defer { pending.cancel() }
        var overlay: [String: PostingState] = [:]  // the states the batch being written leaves
        var writing: Task<Void, any Error>?
        do {
            while true {
                let events = try await pending.value
                if let last = events.last, events.count == ProjectionEngine.buildBatchSize { pending = prefetch(after: last.position, bound: .now) }
                guard let last = events.last else { break }
                // Postings the batch being written touched come from `overlay`; every other posting's
                // state was committed by the batches before it.
                let known = overlay
                let states = try await client.withConnection { reader in
                    try await ProjectionEngine.transaction(on: reader, logger: self.logger) {
                        try await ProjectionEngine.states(for: events, overlay: known, schema: shadow, on: reader, logger: self.logger)
                    }
                }
                let changes = FoldChanges.fold(events, states: states)
                let statements = ProjectionEngine.statements(changes, for: definition, schema: shadow)
                try await writing?.value
                writing = nil
                let logger = self.logger
                writing = Task {
                    try await ProjectionEngine.transaction(on: connection, logger: logger) {
                        try await ProjectionEngine.run(statements, on: connection, logger: logger)
                        try await connection.run(
                            "UPDATE projections SET rebuild_position = \(last.position) WHERE name = \(definition.name)", logger: logger)
                    }
                }
                overlay = changes.postings
                position = last.position
                done += Int64(events.count)
                progress(BuildProgress(projection: definition.name, events: done, total: max(total, done), elapsed: clock.now - started))
                if events.count < ProjectionEngine.buildBatchSize { break }
            }
            try await writing?.value
        } catch {
            // Never leave a write running on the connection the rest of the rebuild uses.
            writing?.cancel()
            _ = try? await writing?.value
            throw error
        }
        try await ProjectionEngine.transaction(on: connection, logger: logger) {
            try await ProjectionEngine.createIndexes(definition, schema: shadow, on: connection, logger: logger)
        }
        // Swap: wait for the live worker's batch (the checkpoint row lock), take what committed since,
        // and replace the live schema, all in one transaction.
        try await ProjectionEngine.transaction(on: connection, durable: true, logger: logger) {
            try await connection.run("SELECT 1 FROM projections WHERE name = \(definition.name) FOR UPDATE", logger: logger)
            while true {
                let events = try await ProjectionEngine.fetch(
                    after: position, limit: ProjectionEngine.batchSize, bound: .now, on: connection, logger: logger)
                guard let last = events.last else { break }
                try await ProjectionEngine.apply(events, to: definition, schema: shadow, on: connection, logger: logger)
                position = last.position
                done += Int64(events.count)
            }
            try await connection.run(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(definition.liveSchema) CASCADE"), logger: logger)
            try await connection.run(
                PostgresQuery(unsafeSQL: "ALTER SCHEMA \(shadow) RENAME TO \(definition.liveSchema)"), logger: logger)
            try await connection.run(
                """
                UPDATE projections SET version = \(definition.version), position = \(position), events = \(done), updated_at = now(),
                    rebuild_version = NULL, rebuild_position = NULL, rebuild_started = NULL
                WHERE name = \(definition.name)
                """, logger: logger)
        }
        let elapsed = clock.now - started
        progress(BuildProgress(projection: definition.name, events: done, total: done, elapsed: elapsed))
        logger.info("projection rebuilt", metadata: ["projection": "\(definition.name)", "events": "\(done)"])
        return RebuildResult(events: done, position: position, elapsed: elapsed)
    }

    // MARK: Time travel

    /// The batch after `position`, read on a connection of its own so that it arrives while the
    /// caller applies the previous one (decoding and PostgreSQL's reading overlap the fold and the
    /// writes). One batch ahead at most: the log is streamed, never held.
    private func prefetch(after position: Int64, bound: LogBound) -> Task<[RecordedEvent], any Error> {
        let client = self.client, logger = self.logger
        return Task {
            try await client.withConnection { connection in
                try await ProjectionEngine.transaction(on: connection, logger: logger) {
                    try await ProjectionEngine.fetch(
                        after: position, limit: ProjectionEngine.buildBatchSize, bound: bound, on: connection, logger: logger)
                }
            }
        }
    }

    /// Builds every projection from position 0 up to `bound` into throwaway schemas on one
    /// connection, runs `body` with a read model over them, and drops them. The same fold and the
    /// same row code as the live workers.
    public func withBuild<R: Sendable>(
        upTo bound: LogBound, progress: @escaping @Sendable (BuildProgress) -> Void = { _ in },
        _ body: (ReadModel) async throws -> R
    ) async throws -> R {
        let suffix = String(UInt32.random(in: .min ... .max), radix: 16)
        return try await client.withConnection { connection in
            var schemas: [String: String] = [:]
            defer {}
            do {
                for definition in definitions {
                    let schema = "proj_\(definition.name)_asof_\(suffix)"
                    schemas[definition.name] = schema
                    try await ProjectionEngine.transaction(on: connection, logger: logger) {
                        try await ProjectionEngine.create(definition, schema: schema, withIndexes: false, on: connection, logger: logger)
                    }
                    let clock = ContinuousClock()
                    let started = clock.now
                    var position: Int64 = 0
                    var done: Int64 = 0
                    var pending = prefetch(after: 0, bound: bound)
                    defer { pending.cancel() }
                    while true {
                        let events = try await pending.value
                        guard let last = events.last else { break }
                        pending = prefetch(after: last.position, bound: bound)
                        try await ProjectionEngine.transaction(on: connection, logger: logger) {
                            try await ProjectionEngine.apply(events, to: definition, schema: schema, on: connection, logger: logger)
                        }
                        position = last.position
                        done += Int64(events.count)
                        progress(BuildProgress(projection: definition.name, events: done, total: done, elapsed: clock.now - started))
                    }
                    try await ProjectionEngine.transaction(on: connection, logger: logger) {
                        try await ProjectionEngine.createIndexes(definition, schema: schema, on: connection, logger: logger)
                    }
                }
                let model = ReadModel(logger: logger, schemas: schemas, fixedPosition: bound)
                let result = try await body(model)
                try await dropAll(Array(schemas.values), on: connection)
                return result
            } catch {
                try? await dropAll(Array(schemas.values), on: connection)
                throw error
            }
        }
    }

    private func dropAll(_ schemas: [String], on connection: PostgresConnection) async throws {
        try await ProjectionEngine.transaction(on: connection, logger: logger) {
            for schema in schemas {
                try await connection.run(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"), logger: logger)
            }
        }
    }
}

/// Fans a signal out to every registered `Wakeup` (the process's projection workers and notifier).
public final class AppendSignal: Sendable {
    private let state = Mutex<(next: Int, wakeups: [Int: Wakeup])>((0, [:]))

    public init() {}

    /// Events were appended, up to `position` when the caller knows it (this process's appends),
    /// or somewhere unknown (another process's NOTIFY).
    public func signal(upTo position: Int64? = nil) {
        for wakeup in state.withLock({ Array($0.wakeups.values) }) { wakeup.signal(upTo: position) }
    }

    func register(_ wakeup: Wakeup) -> Int {
        state.withLock {
            $0.next += 1
            $0.wakeups[$0.next] = wakeup
            return $0.next
        }
    }

    func unregister(_ id: Int) { _ = state.withLock { $0.wakeups.removeValue(forKey: id) } }
}

/// A wake-up signal with a timeout: an append wakes a worker at once, the timeout is the polling
/// fallback (a missed notification only delays, never loses, work).
///
/// `wait` says what woke it: the highest position signalled since the last wait, so that a worker
/// whose checkpoint is already past it need not ask the database again; or nil when something
/// without a position (another process, the timeout, cancellation) did.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        /// A signal without a position (or the timeout) is among the pending ones.
        var unknown = false
        var highest: Int64 = .min
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var nextID: UInt64 = 0
        /// The newest wait whose timeout fired (it may fire before its wait got to sleep).
        var expired: UInt64 = 0
    }

    private let state = Mutex(State())

    func signal(upTo position: Int64? = nil) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.pending = true
            if let position { s.highest = max(s.highest, position) } else { s.unknown = true }
            defer { s.waiter = nil }
            return s.waiter?.continuation
        }
        waiter?.resume()
    }

    /// The timeout of wait `id`: wakes that wait only. (A timer left over from an earlier wait must
    /// not leave a signal behind: it made every wake-up cost a second, empty batch.)
    private func expire(_ id: UInt64) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.expired = max(s.expired, id)
            guard let waiter = s.waiter, waiter.id == id else { return nil }
            s.unknown = true
            s.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }

    private func sleep(_ id: UInt64) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if s.pending || s.expired >= id || Task.isCancelled { return true }
                    s.waiter = (id, continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                guard let waiter = s.waiter, waiter.id == id else { return nil }
                s.waiter = nil
                return waiter.continuation
            }
            waiter?.resume()
        }
    }

    /// Waits for a signal, at most `timeout`; consumes every pending signal. Returns the highest
    /// position signalled, or nil when any signal had none, the wait timed out or was cancelled.
    @discardableResult
    func wait(timeout: Duration) async -> Int64? {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.sleep(id) }
            group.addTask {
                do { try await Task.sleep(for: timeout) } catch { return }
                self.expire(id)
            }
            await group.next()
            group.cancelAll()
        }
        return state.withLock { s -> Int64? in
            defer { (s.pending, s.unknown, s.highest) = (false, false, .min) }
            if s.unknown || !s.pending || s.expired >= id || Task.isCancelled { return nil }
            return s.highest
        }
    }
}
