public import LedgerCore
public import Logging
public import PostgresNIO

/// Which events a read of the log for folding takes.
public enum LogBound: Sendable, Hashable {
    /// Everything a gap-free reader can see now.
    case now
    /// Events at or below a position (and gap-free).
    case position(Int64)
    /// Events recorded (recorded_at) at or before a time (and gap-free).
    case recordedBy(Timestamp)
    /// Every committed event, with no gap-free bound: only for a transaction that holds appends
    /// back (`EventStore.holdAppends`), when no transaction that could still add one is running.
    case committed
}

extension EventStore {
    /// A select-list expression: the highest position every event at or below which the statement's
    /// snapshot sees (committed) or never will (rolled back). A read of inline read models in the
    /// same statement reflects every event up to it.
    public static let reflectedPositionSQL = "(\(gapFreeBound) - 1)"

    /// Above every position given out so far: a transaction's positions come from its id, and every
    /// committed or open transaction's id is below its snapshot's xmax. So no acknowledged append can
    /// have a position at or above this, and a read asked to wait for one can be answered at once.
    /// NULL on a standby, whose snapshot may be behind positions the primary has acknowledged.
    public static let positionCeilingSQL =
        "(SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE (pg_snapshot_xmax(pg_current_snapshot())::text::int8 + position_offset) << 16 END FROM ledger_clock)"

    /// Holds every append back until the caller's transaction ends, once the appends under way have
    /// finished. Appends take this barrier in shared mode with their streams' turn (before their
    /// transaction has an id), so while the caller holds it no append is running and every event
    /// that will ever be recorded below the next append's positions is committed: a rebuild's swap
    /// catches up with `LogBound.committed` and switches tables without missing one.
    public static func holdAppends(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run("SELECT pg_advisory_xact_lock(\(appendBarrier.0), \(appendBarrier.1))", logger: logger)
    }

    /// The advisory lock (two-key form) of `holdAppends`.
    static let appendBarrier: (Int32, Int32) = (1348, 0)

    /// The next batch of events after `position` within `bound`, in position order, as far as a
    /// fold reads them (no actors or hashes: see `decodeForFold`). Runs inside the caller's
    /// transaction, with bitmap scans and sorts off for the statement.
    ///
    /// `plannerIsOff`: the caller's statement before this one selected `plannerOff` already.
    public static func foldBatch(
        after position: Int64, limit: Int, bytes: Int = batchBytes, bound: LogBound, plannerIsOff: Bool = false, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [RecordedEvent] {
        let query: PostgresQuery
        switch bound {
        case .now:
            query = """
                SELECT \(unescaped: foldColumns) FROM events WHERE position > \(position) AND position < \(unescaped: gapFreeBound)
                ORDER BY position LIMIT \(limit)
                """
        case .position(let upto):
            query = """
                SELECT \(unescaped: foldColumns) FROM events
                WHERE position > \(position) AND position <= \(upto) AND position < \(unescaped: gapFreeBound)
                ORDER BY position LIMIT \(limit)
                """
        case .recordedBy(let time):
            query = """
                SELECT \(unescaped: foldColumns) FROM events
                WHERE position > \(position) AND position < \(unescaped: gapFreeBound)
                  AND recorded_at <= 'epoch'::timestamptz + make_interval(secs => \(time.microseconds / 1_000_000)::int8)
                                      + \(time.microseconds % 1_000_000)::int8 * interval '1 microsecond'
                ORDER BY position LIMIT \(limit)
                """
        case .committed:
            query = """
                SELECT \(unescaped: foldColumns) FROM events WHERE position > \(position) ORDER BY position LIMIT \(limit)
                """
        }
        // The plan must be a walk of the primary key in position order that stops after `limit`
        // rows; with statistics from before a bulk import the planner chose a bitmap scan and a
        // sort of the whole rest of the log (docs/performance.md). Off for this statement only.
        if !plannerIsOff { try await connection.run(PostgresQuery(unsafeSQL: "SELECT \(plannerOff)"), logger: logger) }
        let events = try await collect(connection.run(query, logger: logger), limit: limit, bytes: bytes, decodeForFold)
        try await connection.run(
            """
            SELECT set_config(name, reset_val, true) FROM pg_settings WHERE name IN ('enable_bitmapscan', 'enable_sort')
            """, logger: logger)
        return events
    }

    /// Select-list items that turn bitmap scans and sorts off for the rest of the transaction (see `foldBatch`).
    public static let plannerOff = "set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)"
}
