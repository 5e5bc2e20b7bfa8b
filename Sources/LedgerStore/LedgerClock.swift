public import LedgerCore
public import Logging
public import PostgresNIO

/// The clock that gives appends their positions: `((transaction id + position_offset) << 16) +
/// index`. Transaction ids restart low in another cluster, so a ledger restored there with
/// `pg_dump` (or copied, or recovered to a point in time on a server whose ids went further) has a
/// clock behind its log: new events would get positions below recorded ones, and every reader that
/// follows positions would pass them by. `migrate` and every start of the daemon move the offset
/// forward themselves; appends refuse to run on a clock behind the log.
public enum LedgerClock {
    /// Transaction ids of head room a moved clock is given above the highest recorded position.
    public static let margin: Int64 = 1_000_000

    /// What an append answers while the clock is behind and has not been moved.
    static let behind = LedgerError(
        .unavailable,
        "the ledger's clock is behind its log (after a restore or copy into another cluster): new events would get positions below recorded ones; run `placementctl migrate` as the schema owner, which moves it forward")

    public struct Reading: Sendable {
        /// The lowest position a transaction starting now can get.
        public var next: Int64
        /// The highest recorded position (0 with no events).
        public var highest: Int64
        public var offset: Int64
        /// Transaction ids left before the clock would reach the highest recorded position; negative
        /// when it is behind.
        public var headroom: Int64 { (next >> 16) - (highest >> 16) - 1 }
        public var isBehind: Bool { next <= highest }
    }

    public static func read(on connection: PostgresConnection, logger: Logger) async throws -> Reading {
        let rows = try await connection.run(
            """
            SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::int8 + position_offset) << 16,
                   COALESCE((SELECT max(position) FROM events), 0), position_offset
            FROM ledger_clock
            """, logger: logger)
        for try await (next, highest, offset) in rows.decode((Int64, Int64, Int64).self) {
            return Reading(next: next, highest: highest, offset: offset)
        }
        throw ConfigurationError("the ledger_clock row is missing: run placementctl migrate")
    }

    /// Moves the clock forward when it is behind the log, to `margin` transaction ids above the
    /// highest recorded position, and says so in the log. Returns the reading after. Throws
    /// `ConfigurationError` naming the command when this role may not move it.
    @discardableResult
    public static func guardAgainstRestore(on connection: PostgresConnection, logger: Logger) async throws -> Reading {
        let before = try await read(on: connection, logger: logger)
        guard before.isBehind else { return before }
        let xmax = (before.next >> 16) - before.offset
        let offset = (before.highest >> 16) + 1 + margin - xmax
        do {
            try await connection.run(
                "UPDATE ledger_clock SET position_offset = \(offset) WHERE position_offset = \(before.offset)", logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" {
            throw ConfigurationError(
                "the ledger's clock is behind its log (the next position \(before.next) is not above the highest recorded one, \(before.highest): a restore or copy into another cluster?) and this role may not move it: run `placementctl migrate` as the schema owner")
        }
        let after = try await read(on: connection, logger: logger)
        logger.warning(
            "the ledger's clock was behind its log (after a restore or copy into another cluster?); moved it forward",
            metadata: [
                "ledger.highest_position": "\(before.highest)", "ledger.next_position_before": "\(before.next)",
                "ledger.next_position": "\(after.next)", "ledger.position_offset": "\(after.offset)",
            ])
        return after
    }
}
