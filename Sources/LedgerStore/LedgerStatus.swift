public import Logging
public import PostgresNIO

/// A summary of the ledger for `placementctl status`.
public struct LedgerStatus: Sendable {
    public var schemaVersion: Int
    public var binarySchemaVersion: Int
    public var events: Int64
    public var streams: Int64
    public var lastPosition: Int64
    public var horizon: Int64
    public var seals: Int64
    public var lastSealPosition: Int64?
    public var unsealedEvents: Int64
    /// The clock against the log (see `LedgerClock`).
    public var clock: LedgerClock.Reading

    public static func read(_ client: any DatabaseClient, logger: Logger) async throws -> LedgerStatus {
        try await client.withConnection { connection in
            let (current, latest) = try await Migrator.status(connection, logger: logger)
            let rows = try await connection.run(
                """
                SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM streams),
                       (SELECT COALESCE(max(position), 0) FROM events),
                       (SELECT COALESCE(max(position), 0) FROM events WHERE position <
                           \(unescaped: gapFreeBound)),
                       (SELECT count(*) FROM seals), (SELECT max(upto_position) FROM seals),
                       (SELECT count(*) FROM events WHERE position > COALESCE((SELECT max(upto_position) FROM seals), 0))
                """, logger: logger)
            var status: LedgerStatus?
            for try await (events, streams, last, horizon, seals, sealPosition, unsealed) in rows.decode(
                (Int64, Int64, Int64, Int64, Int64, Int64?, Int64).self)
            {
                status = LedgerStatus(
                    schemaVersion: current, binarySchemaVersion: latest, events: events, streams: streams,
                    lastPosition: last, horizon: horizon, seals: seals, lastSealPosition: sealPosition,
                    unsealedEvents: unsealed, clock: LedgerClock.Reading(next: 0, highest: 0, offset: 0))
            }
            if var status {
                status.clock = try await LedgerClock.read(on: connection, logger: logger)
                return status
            }
            throw ConfigurationError("status query returned nothing")
        }
    }
}
