import Foundation
public import LedgerCore
public import LedgerStore
public import Logging
public import PostgresNIO

/// Progress of a long build, for a terminal or a log.
public struct BuildProgress: Sendable {
    public var projection: String
    public var events: Int64
    public var total: Int64
    public var elapsed: Duration
}

/// One projection's state as `GET /v1/projections` and `placementctl status` show it.
public struct ProjectionStatus: Sendable {
    public var name: String
    public var version: Int
    public var codeVersion: Int
    /// Every event at or below it is reflected.
    public var position: Int64
    /// Events reflected, for a projection that is not written inline (nil for one that is: it
    /// reflects every committed event, and counting them costs more than the rest of the status).
    public var events: Int64?
    /// Events recorded after `position` (0 for a projection written inline).
    public var lag: Int64
    /// How long the first unreflected event has waited (0 when none).
    public var lagMilliseconds: Int64
    public var rebuilding: Bool
    public var rebuildPosition: Int64?

    public var json: JSON {
        var members: [String: JSON] = [
            "name": .string(name), "version": .int(Int64(version)), "position": .int(position),
            "lag": .int(lag), "lag_ms": .int(lagMilliseconds), "state": .string(rebuilding ? "rebuilding" : "live"),
        ]
        if let events { members["events"] = .int(events) }
        if let rebuildPosition { members["rebuild_position"] = .int(rebuildPosition) }
        return .object(members)
    }
}

/// Keeps the projections' tables: creates them, attaches them to the appends (which then write
/// them inline), rebuilds them into shadow schemas and swaps them in, and builds throwaway copies
/// for time travel.
public struct ProjectionRunner: Sendable {
    public let client: any DatabaseClient
    public let logger: Logger
    public var definitions: [ProjectionDefinition]

    public init(client: any DatabaseClient, logger: Logger, definitions: [ProjectionDefinition] = ProjectionDefinition.all) {
        self.client = client
        self.logger = logger
        self.definitions = definitions
    }

    // MARK: Positions

    /// A condition on a `projections` row (its columns named with `prefix`): its version is this code's.
    static func atCodeVersion(_ prefix: String = "") -> String {
        "(\(prefix)name, \(prefix)version) IN (" + ProjectionDefinition.all.map { "('\($0.name)', \($0.version))" }.joined(separator: ", ") + ")"
    }

    /// A select-list expression over a `projections` row `p`: the position its tables reflect. A
    /// projection written inline reflects every event the statement's snapshot sees; one that is
    /// not (being built for another version) its stored position.
    static var reflectedSQL: String {
        "CASE WHEN p.inline AND \(atCodeVersion("p.")) THEN \(EventStore.reflectedPositionSQL) ELSE p.position END"
    }

    /// The lowest position reflected among `names` (what a read across them reflects).
    public static func position(of names: [String], on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        try await positionAndCeiling(of: names, on: connection, logger: logger).position
    }

    /// `position(of:)`, and the ceiling of every position given out so far (see
    /// `EventStore.positionCeilingSQL`; nil on a standby), in one statement of the caller's snapshot.
    public static func positionAndCeiling(
        of names: [String], on connection: PostgresConnection, logger: Logger
    ) async throws -> (position: Int64, ceiling: Int64?) {
        var answer: (Int64, Int64?) = (0, nil)
        for try await row in try await connection.run(
            PostgresQuery(unsafeSQL: "SELECT \(positionColumn(names)), \(EventStore.positionCeilingSQL)"), logger: logger
        ).decode((Int64, Int64?).self) {
            answer = row
        }
        return answer
    }

    /// A scalar subquery: the lowest position reflected among `names` (the code's own projection
    /// names, never input), in the snapshot of the statement it is part of.
    public static func positionColumn(_ names: [String]) -> String {
        precondition(names.allSatisfy { $0.allSatisfy { $0.isLetter || $0 == "_" } }, "projection names are plain words")
        let list = names.map { "'\($0)'" }.joined(separator: ", ")
        return "COALESCE((SELECT min(\(reflectedSQL)) FROM projections p WHERE p.name IN (\(list))), 0)"
    }

    /// Every projection's status in name order, in one statement. For one that is not written
    /// inline the lag walks the position index from its position (ordered by position, a walk of
    /// the index is the planner's cheapest plan; without the order it scanned the whole log).
    public static let statusQuery = RowQuery<ProjectionStatus>(
        sql: { leading in
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(leading)p.name, p.version, s.position, s.inline,
                        CASE WHEN s.inline THEN NULL ELSE p.events END,
                        p.rebuild_version IS NOT NULL, p.rebuild_position,
                        CASE WHEN s.inline THEN 0 ELSE
                            (SELECT count(*) FROM (SELECT 1 FROM events e WHERE e.position > p.position ORDER BY e.position LIMIT 10000000) x) END,
                        CASE WHEN s.inline THEN 0 ELSE
                            COALESCE((SELECT (extract(epoch FROM now() - e.recorded_at) * 1000)::int8 FROM events e
                                      WHERE e.position > p.position ORDER BY e.position LIMIT 1), 0) END
                    FROM projections p
                    CROSS JOIN LATERAL (SELECT \(reflectedSQL) AS position,
                        p.inline AND \(atCodeVersion("p.")) AS inline) s
                    ORDER BY p.name
                    """)
        },
        decode: { cells in
            let (name, version, position, inline): (String, Int, Int64, Bool) = (try cells.next(), try cells.next(), try cells.next(), try cells.next())
            let events: Int64? = try cells.next()
            let (rebuilding, rebuildPosition, lag, lagMs): (Bool, Int64?, Int64, Int64) = (
                try cells.next(), try cells.next(), try cells.next(), try cells.next()
            )
            let code = ProjectionDefinition.named(name)?.version ?? version
            return ProjectionStatus(
                name: name, version: version, codeVersion: code, position: position, events: events, lag: lag,
                lagMilliseconds: max(0, lagMs), rebuilding: rebuilding || !inline, rebuildPosition: rebuildPosition)
        })

    /// Positions, lag and state.
    public func status() async throws -> [ProjectionStatus] {
        try await client.withConnection { try await Self.statusQuery.rows(on: $0, logger: logger) }
    }

    // MARK: Attach

    /// Makes every projection written inline by the appends: creates one seen for the first time,
    /// brings one left behind by an older release up to the log, and rebuilds one whose tables
    /// another version of the code built. Several processes may call it at once: each projection
    /// is prepared by one of them at a time (the others find it done).
    ///
    /// A projection that caught up with at least `analyzeAfter` events in place has its tables
    /// analyzed: autovacuum gets to them only later, and until then the planner sees empty tables.
    public func prepare(
        analyzeAfter: Int = ProjectionEngine.analyzeAfterCatchUp, progress: @escaping @Sendable (BuildProgress) -> Void = { _ in }
    ) async throws {
        for definition in definitions {
            try await client.withConnection { connection in
                try await withBuildLock(definition, on: connection, wait: true) {
                    try await prepareLocked(definition, analyzeAfter: analyzeAfter, on: connection, progress: progress)
                }
            }
        }
    }

    private func prepareLocked(
        _ definition: ProjectionDefinition, analyzeAfter: Int, on connection: PostgresConnection,
        progress: @escaping @Sendable (BuildProgress) -> Void
    ) async throws {
        var row: (version: Int, inline: Bool)?
        var schemaExists = false
        for try await (version, inline, exists) in try await connection.run(
            """
            SELECT version, inline, to_regnamespace(\(definition.liveSchema)) IS NOT NULL FROM projections WHERE name = \(definition.name)
            """, logger: logger
        ).decode((Int, Bool, Bool).self) {
            row = (version, inline)
            schemaExists = exists
        }
        if row != nil && !schemaExists {
            // The row without its tables (a restore that left the projection schemas out): built
            // again from position 0, as for a projection seen for the first time.
            logger.warning("projection tables missing; building them from the log", metadata: ["projection": "\(definition.name)"])
            try await ProjectionEngine.transaction(on: connection, durable: true, logger: logger) {
                try await EventStore.holdAppends(on: connection, logger: logger)
                try await ProjectionEngine.create(definition, schema: definition.liveSchema, on: connection, logger: logger)
                try await connection.run(
                    """
                    UPDATE projections SET version = \(definition.version), inline = false, position = 0, events = 0, updated_at = now()
                    WHERE name = \(definition.name)
                    """, logger: logger)
            }
            row = (definition.version, false)
        }
        switch row {
        case nil:
            try await ProjectionEngine.transaction(on: connection, logger: logger) {
                try await ProjectionEngine.create(definition, schema: definition.liveSchema, on: connection, logger: logger)
                try await connection.run(
                    "INSERT INTO projections (name, version) VALUES (\(definition.name), \(definition.version))", logger: logger)
            }
            try await attach(definition, analyzeAfter: analyzeAfter, on: connection)
        case let (version, inline)? where version == definition.version:
            if !inline { try await attach(definition, analyzeAfter: analyzeAfter, on: connection) }
        case let (_, inline)?:
            // Another version's tables: they keep serving, frozen at the log as it is now, until the
            // rebuild swaps this version's in.
            if inline {
                try await ProjectionEngine.transaction(on: connection, durable: true, logger: logger) {
                    try await EventStore.holdAppends(on: connection, logger: logger)
                    try await connection.run(
                        """
                        UPDATE projections SET inline = false, position = (SELECT COALESCE(max(position), 0) FROM events), updated_at = now()
                        WHERE name = \(definition.name)
                        """, logger: logger)
                }
            }
            _ = try await rebuildLocked(definition, on: connection, progress: progress)
        }
    }

    /// Brings a projection that is not written inline (new, or kept by an older release's workers)
    /// up to the log in place, in batches of `ProjectionEngine.batchSize` while appends go on, then
    /// takes the rest with appends held back and switches it to inline writes.
    private func attach(_ definition: ProjectionDefinition, analyzeAfter: Int, on connection: PostgresConnection) async throws {
        let schema = definition.liveSchema
        var position: Int64 = 0
        for try await value in try await connection.run(
            "SELECT position FROM projections WHERE name = \(definition.name)", logger: logger
        ).decode(Int64.self) {
            position = value
        }
        var caughtUp = 0
        while true {
            let (count, last) = try await ProjectionEngine.transaction(on: connection, logger: logger) { () -> (Int, Int64) in
                let events = try await EventStore.foldBatch(
                    after: position, limit: ProjectionEngine.batchSize, bound: .now, on: connection, logger: logger)
                guard let last = events.last else { return (0, position) }
                try await ProjectionEngine.apply(events, to: definition, schema: schema, on: connection, logger: logger)
                try await connection.run(
                    """
                    UPDATE projections SET position = \(last.position), events = events + \(Int64(events.count)), updated_at = now()
                    WHERE name = \(definition.name)
                    """, logger: logger)
                return (events.count, last.position)
            }
            position = last
            caughtUp += count
            if count < ProjectionEngine.batchSize { break }
        }
        if caughtUp >= analyzeAfter { try await ProjectionEngine.analyze(schema: schema, on: connection, logger: logger) }
        let held = ContinuousClock.now
        try await ProjectionEngine.transaction(on: connection, durable: true, logger: logger) {
            try await EventStore.holdAppends(on: connection, logger: logger)
            position = try await catchUpHeld(definition, schema: schema, after: position, on: connection).position
            // The appends keep the rows from here on; a state table would only go stale.
            try await connection.run(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(schema).state"), logger: logger)
            try await connection.run(
                "UPDATE projections SET inline = true, position = \(position), updated_at = now() WHERE name = \(definition.name)",
                logger: logger)
        }
        logger.info(
            "projection attached: appends write it inline",
            metadata: ["projection": "\(definition.name)", "appends_held_ms": "\((ContinuousClock.now - held).milliseconds)"])
    }

    /// Folds every committed event after `position` into `schema`, while the caller's transaction
    /// holds appends back (so none is missing below the last one). Returns the new position and how
    /// many events it took.
    private func catchUpHeld(
        _ definition: ProjectionDefinition, schema: String, after position: Int64, on connection: PostgresConnection
    ) async throws -> (position: Int64, events: Int64) {
        var position = position
        var events: Int64 = 0
        while true {
            let batch = try await EventStore.foldBatch(
                after: position, limit: ProjectionEngine.batchSize, bound: .committed, on: connection, logger: logger)
            guard let last = batch.last else { return (position, events) }
            try await ProjectionEngine.apply(batch, to: definition, schema: schema, on: connection, logger: logger)
            position = last.position
            events += Int64(batch.count)
        }
    }

    /// Runs `body` holding the projection's build lock (a session advisory lock), so one process at
    /// a time builds or attaches it. `wait: false` refuses when another holds it.
    private func withBuildLock<R>(
        _ definition: ProjectionDefinition, on connection: PostgresConnection, wait: Bool, _ body: () async throws -> R
    ) async throws -> R {
        let lock = "placement:rebuild:\(definition.name)"
        if wait {
            try await connection.run("SELECT pg_advisory_lock(hashtext(\(lock)))", logger: logger)
        } else {
            var locked = false
            for try await value in try await connection.run("SELECT pg_try_advisory_lock(hashtext(\(lock)))", logger: logger).decode(Bool.self) {
                locked = value
            }
            guard locked else {
                throw ConfigurationError("a rebuild of projection \(definition.name) is already running; wait for it to finish")
            }
        }
        do {
            let result = try await body()
            _ = try? await connection.run("SELECT pg_advisory_unlock(hashtext(\(lock)))", logger: logger)
            return result
        } catch {
            _ = try? await connection.run("SELECT pg_advisory_unlock(hashtext(\(lock)))", logger: logger)
            throw error
        }
    }

    // MARK: Rebuild

    public struct RebuildResult: Sendable {
        public var events: Int64
        public var position: Int64
        public var elapsed: Duration
        /// How long the swap held appends back.
        public var appendsHeld: Duration
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
        do {
            return try await withBuildLock(definition, on: connection, wait: false) {
                try await rebuildLocked(definition, on: connection, progress: progress)
            }
        } catch let error as ConfigurationError {
            throw error
        } catch {
            _ = try? await connection.run(
                "UPDATE projections SET rebuild_version = NULL, rebuild_position = NULL, rebuild_started = NULL WHERE name = \(definition.name)",
                logger: logger)
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
                let changes = FoldChanges.fold(events, states: states, history: definition.keepsHistory)
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
                // Short of its count (the log's end, or `EventStore.batchBytes` of large events): the
                // held catch-up after the loop folds whatever is left.
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
        // Swap: hold appends back (those under way finish first), take what committed since, replace
        // the live schema and hand it to the appends, all in one transaction. The appends' prepared
        // statements name the live schema and are planned again after the rename.
        let held = clock.now
        try await ProjectionEngine.transaction(on: connection, durable: true, logger: logger) {
            try await EventStore.holdAppends(on: connection, logger: logger)
            let caughtUp = try await catchUpHeld(definition, schema: shadow, after: position, on: connection)
            position = caughtUp.position
            done += caughtUp.events
            try await connection.run(PostgresQuery(unsafeSQL: "DROP TABLE \(shadow).state"), logger: logger)
            try await connection.run(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(definition.liveSchema) CASCADE"), logger: logger)
            for try await _ in try await connection.run("SELECT placement_rename_schema(\(shadow), \(definition.liveSchema))", logger: logger) {}
            try await connection.run(
                """
                UPDATE projections SET version = \(definition.version), position = \(position), events = \(done), updated_at = now(),
                    inline = true, rebuild_version = NULL, rebuild_position = NULL, rebuild_started = NULL
                WHERE name = \(definition.name)
                """, logger: logger)
        }
        let paused = clock.now - held
        let elapsed = clock.now - started
        progress(BuildProgress(projection: definition.name, events: done, total: done, elapsed: elapsed))
        logger.info(
            "projection rebuilt", metadata: ["projection": "\(definition.name)", "events": "\(done)", "appends_held_ms": "\(paused.milliseconds)"])
        return RebuildResult(events: done, position: position, elapsed: elapsed, appendsHeld: paused)
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
                    try await EventStore.foldBatch(
                        after: position, limit: ProjectionEngine.buildBatchSize, bound: bound, on: connection, logger: logger)
                }
            }
        }
    }

    /// Builds every projection from position 0 up to `bound` into throwaway schemas on one
    /// connection, runs `body` with a read model over them, and drops them. The same fold and the
    /// same row code as the appends.
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

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
