import Foundation
public import LedgerCore
public import PostgresNIO
public import Logging

extension EventStore {
    /// One posting's stream in version order.
    public func stream(_ postingID: String) async throws -> [RecordedEvent] {
        try await client.withConnection { try await self.stream(postingID, on: $0) }
    }

    func stream(_ postingID: String, on connection: PostgresConnection) async throws -> [RecordedEvent] {
        let rows = try await connection.run(
            "SELECT \(unescaped: eventColumns) FROM events WHERE posting_id = \(postingID) ORDER BY version", logger: logger)
        var events: [RecordedEvent] = []
        for try await row in rows { events.append(try decodeRecorded(row)) }
        return events
    }

    /// The global feed: events after `position`, in position order, at most `limit` and about
    /// `bytes` (see `collect`).
    ///
    /// Gap-free: only events of transactions older than every transaction still running are
    /// returned. Positions are derived from the appending transaction's id (see `clock`), so every
    /// transaction that could still commit has positions above the bound, and a reader that
    /// continues from the last position it saw never skips an event that commits later.
    public func feed(
        after position: Int64, limit: Int, bytes: Int = EventStore.batchBytes, postingID: String? = nil
    ) async throws -> [RecordedEvent] {
        try await client.withConnection { connection in
            try await Self.feed(after: position, limit: limit, bytes: bytes, postingID: postingID, on: connection, logger: self.logger)
        }
    }

    static func feed(
        after position: Int64, limit: Int, bytes: Int = EventStore.batchBytes, postingID: String?, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [RecordedEvent] {
        let query: PostgresQuery = """
            SELECT \(unescaped: eventColumns) FROM events
            WHERE position > \(position)
              AND position < \(unescaped: gapFreeBound)
              AND (\(postingID)::text IS NULL OR posting_id = \(postingID))
            ORDER BY position LIMIT \(limit)
            """
        return try await collect(connection.run(query, logger: logger), limit: limit, bytes: bytes, decodeRecorded)
    }

    /// Bytes of rows one batch of events holds at most (plus its last event): `limit` alone would
    /// let a batch of large events (up to `Event.maxBytes` each) take hundreds of MiB. Ordinary
    /// events are far smaller, so ordinary batches end at their count.
    public static let batchBytes = 32 << 20

    /// Decodes `rows` until `bytes` of them have been read (at least one row). A batch cut short
    /// holds fewer than its limit: callers page on until a batch comes back empty. Stopping early
    /// cancels the statement's stream (PostgresNIO discards the rest as it arrives).
    static func collect(
        _ rows: PostgresRowSequence, limit: Int, bytes: Int, _ decode: (PostgresRow) throws -> RecordedEvent
    ) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        events.reserveCapacity(min(limit, 4096))
        var read = 0
        for try await row in rows {
            events.append(try decode(row))
            for cell in row { read += cell.bytes?.readableBytes ?? 0 }
            if read >= bytes { break }
        }
        return events
    }

    /// Every event of a company's postings (their whole streams), recorded at or before `asOf`
    /// when given, in position order: what the company statement and aging fold. In the caller's
    /// snapshot, so it agrees with the read models read in it.
    public static func companyEvents(
        _ companyID: String, asOf: Timestamp?, on connection: PostgresConnection, logger: Logger
    ) async throws -> [RecordedEvent] {
        let cut = asOf?.rfc3339
        let rows = try await connection.run(
            """
            SELECT \(unescaped: eventColumns) FROM events
            WHERE posting_id IN (SELECT posting_id FROM streams WHERE company_id = \(companyID))
              AND (\(cut)::timestamptz IS NULL OR recorded_at <= \(cut)::timestamptz)
            ORDER BY position
            """, logger: logger)
        var events: [RecordedEvent] = []
        for try await row in rows { events.append(try decodeRecorded(row)) }
        return events
    }

    /// Every event of `postingIDs` (their whole streams), recorded at or before `asOf`, in
    /// position order: what a report as of an earlier time folds.
    public static func events(
        ofPostings postingIDs: [String], asOf: Timestamp, on connection: PostgresConnection, logger: Logger
    ) async throws -> [RecordedEvent] {
        guard !postingIDs.isEmpty else { return [] }
        let rows = try await connection.run(
            """
            SELECT \(unescaped: eventColumns) FROM events
            WHERE posting_id = ANY(\(postingIDs)) AND recorded_at <= \(asOf.rfc3339)::timestamptz
            ORDER BY position
            """, logger: logger)
        var events: [RecordedEvent] = []
        for try await row in rows { events.append(try decodeRecorded(row)) }
        return events
    }

    /// The database's clock now (`now()`, the time appends record), in the caller's transaction.
    public static func databaseNow(on connection: PostgresConnection, logger: Logger) async throws -> Timestamp {
        for try await micros in try await connection.run("SELECT (extract(epoch FROM now()) * 1000000)::int8", logger: logger).decode(Int64.self) {
            return Timestamp(microseconds: micros)
        }
        throw ConfigurationError("the database answered no time to SELECT now()")
    }

    /// Every event the caller's snapshot sees after `position`, in position order, gap-free
    /// bound or not: for a reader that compares the log with other tables of the same snapshot
    /// (`verify --deep`), which see those events too. At most `limit` events and about `bytes`.
    public static func snapshotEvents(
        after position: Int64, limit: Int, bytes: Int = batchBytes, on connection: PostgresConnection, logger: Logger
    ) async throws -> [RecordedEvent] {
        let rows = try await connection.run(
            "SELECT \(unescaped: eventColumns) FROM events WHERE position > \(position) ORDER BY position LIMIT \(limit)", logger: logger)
        return try await collect(rows, limit: limit, bytes: bytes, decodeRecorded)
    }

    /// The highest position a gap-free reader can see now: every event at or below it is committed
    /// (or will never be).
    public func horizon() async throws -> Int64 {
        let rows = try await client.query(
            """
            SELECT COALESCE(max(position), 0) FROM events
            WHERE position < \(unescaped: gapFreeBound)
            """, logger: logger)
        for try await value in rows.decode(Int64.self) { return value }
        return 0
    }
}


extension EventStore {
    /// The current state of postings (from their stream snapshots) and the position each reflects.
    public func postings(_ postingIDs: [String]) async throws -> [String: (state: PostingState, position: Int64)] {
        try await client.withConnection { connection in
            let rows = try await connection.run(
                """
                SELECT posting_id, version, head_position, snapshot_format, snapshot
                FROM streams WHERE posting_id = ANY(\(postingIDs)::text[])
                """, logger: self.logger)
            var found: [String: (state: PostingState, position: Int64)] = [:]
            for try await (postingID, version, position, format, snapshot) in rows.decode((String, Int64, Int64, Int, String).self) {
                if format == PostingState.snapshotFormat,
                    let state = try? PostingState(snapshot: snapshot), state.version == version
                {
                    found[postingID] = (state, position)
                } else {
                    var state = PostingState(postingID: postingID)
                    for event in try await self.stream(postingID, on: connection) { state.evolve(event.event) }
                    found[postingID] = (state, position)
                }
            }
            return found
        }
    }
}
