import Foundation
public import LedgerCore
public import Logging
public import PostgresNIO

/// The event log on PostgreSQL: appends (atomic, idempotent, rule-checked, hash-chained) and reads
/// (streams, the gap-free global feed).
public final class EventStore: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    /// Signalled after every append that recorded something (wakes this process's projection
    /// workers at once, and the notifier that tells other processes).
    public let appended = AppendSignal()

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }
}

/// How an append treats ids that are already recorded and rules that are broken.
public enum AppendMode: Sendable {
    /// The API's contract: all or nothing; a batch whose events are all recorded with the same
    /// content returns the original results; any other recorded id is `id_conflict`.
    case atomic
    /// Import: events already recorded with the same content are skipped; at the first broken rule
    /// the events before it are recorded and the rejection is returned instead of thrown.
    case prefix
}

public struct AppendOutcome: Sendable {
    /// The recorded events: new ones, or for a replayed batch the originals, in request order.
    public var events: [RecordedEvent]
    /// True when every event was already recorded: nothing new was written.
    public var replayed: Bool
    /// Events skipped because they were already recorded (import mode).
    public var skipped: Int
    /// The first broken rule (import mode); everything before it was recorded.
    public var rejection: LedgerError?
}

extension EventStore {
    /// Appends a batch in one transaction. Throws `LedgerError` for a rejected batch (atomic mode),
    /// other errors when the database fails. Unique-key races (the same id, a new posting or a
    /// payment reference appended concurrently) and deadlocks are retried, so a race surfaces as
    /// the conflict or rule it really is, never as a silent success.
    public func append(_ events: [Event], mode: AppendMode = .atomic) async throws -> AppendOutcome {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let outcome = try await client.withConnection { connection in
                    try await self.transaction(connection) {
                        try await self.appendOnce(events, mode: mode, on: connection)
                    }
                }
                if !outcome.replayed && !outcome.events.isEmpty { appended.signal() }
                return outcome
            } catch let error as PSQLError where attempt < 10 && error.isRetryableRace {
                logger.debug("append raced another transaction; retrying", metadata: ["ledger.sqlstate": "\(error.sqlState ?? "")"])
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * attempt))))
            }
        }
    }

    func transaction<R>(_ connection: PostgresConnection, _ body: () async throws -> R) async throws -> R {
        try await connection.query("BEGIN", logger: logger)
        do {
            let result = try await body()
            try await connection.query("COMMIT", logger: logger)
            return result
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    private func appendOnce(_ input: [Event], mode: AppendMode, on connection: PostgresConnection) async throws -> AppendOutcome {
        // 1. Lock the streams involved (in a fixed order, so appends never deadlock) and load their state.
        //    Locking first means a concurrent append of the same events has committed by the time we
        //    look for recorded ids, so a racing retry is answered as a retry, not as a broken rule.
        let postingIDs = Array(Set(input.map(\.postingID))).sorted()
        var heads = try await lockStreams(postingIDs, on: connection)
        var states = heads.mapValues(\.state)

        // 2. Idempotency: which ids are recorded already?
        let recorded = try await recordedEvents(ids: input.map(\.id), on: connection)
        var events = input
        var skipped = 0
        if !recorded.isEmpty {
            for (i, event) in input.enumerated() {
                if let original = recorded[event.id], original.event.contentFingerprint != event.contentFingerprint {
                    throw LedgerError(
                        .idConflict, "event id \(event.id) is already recorded with different content",
                        eventIndex: i, eventID: event.id)
                }
            }
            switch mode {
            case .atomic:
                guard recorded.count == input.count else {
                    let i = input.firstIndex { recorded[$0.id] != nil }!
                    throw LedgerError(
                        .idConflict,
                        "the batch mixes already recorded events (like \(input[i].id)) with new ones: re-send the original batch unchanged, or send only new events",
                        eventIndex: i, eventID: input[i].id)
                }
                return AppendOutcome(events: input.map { recorded[$0.id]! }, replayed: true, skipped: 0, rejection: nil)
            case .prefix:
                events = input.filter { recorded[$0.id] == nil }
                skipped = input.count - events.count
                if events.isEmpty { return AppendOutcome(events: [], replayed: true, skipped: skipped, rejection: nil) }
            }
        }

        // 3. The transaction's position base and the server's time.
        let (base, nowMicros) = try await clock(on: connection)
        let now = Timestamp(microseconds: nowMicros)

        // 4. Payment references the batch uses that some company used before.
        var context = DecisionContext(now: now)
        let refs = events.compactMap { event -> String? in
            if case .paid(_, _, _, let ref, _) = event.data { return ref } else { return nil }
        }
        if !refs.isEmpty { context.usedPaymentRefs = try await usedPaymentRefs(refs, on: connection) }

        // 5. The rules.
        let (accepted, rejection) = BatchDecision.decide(events, states: &states, context: &context)
        if let rejection {
            var error = rejection
            if let index = error.eventIndex, mode == .atomic || skipped > 0 {
                // Report the index in the caller's batch.
                error.eventIndex = input.firstIndex { $0.id == events[index].id } ?? index
            }
            if mode == .atomic || accepted.isEmpty {
                if mode == .atomic { throw error }
                return AppendOutcome(events: [], replayed: false, skipped: skipped, rejection: error)
            }
        }

        // 6. Positions, hashes, chains.
        var records: [RecordedEvent] = []
        records.reserveCapacity(accepted.count)
        var paymentRows: [(company: String, ref: String, posting: String, position: Int64)] = []
        for (i, decided) in accepted.enumerated() {
            let position = base + Int64(i)
            let head = heads[decided.event.postingID]
            let prevHash = head?.hash ?? []
            let hash = EventHash.compute(
                event: decided.event, version: decided.version, position: position, recordedAt: now, prevHash: prevHash)
            records.append(
                RecordedEvent(event: decided.event, position: position, version: decided.version, recordedAt: now, prevHash: prevHash, hash: hash))
            heads[decided.event.postingID, default: StreamHead(postingID: decided.event.postingID)].advance(
                position: position, hash: hash)
            if case .paid(_, _, _, let ref, _) = decided.event.data {
                paymentRows.append((states[decided.event.postingID]!.companyID, ref, decided.event.postingID, position))
            }
        }

        // 7. Write.
        try await insertEvents(records, on: connection)
        let touched = Set(accepted.map(\.event.postingID))
        try await saveStreams(touched.sorted().map { id in (heads[id]!, states[id]!) }, on: connection)
        if !paymentRows.isEmpty { try await insertPaymentRefs(paymentRows, on: connection) }
        return AppendOutcome(events: records, replayed: false, skipped: skipped, rejection: rejection)
    }

    // MARK: Steps

    func recordedEvents(ids: [String], on connection: PostgresConnection) async throws -> [String: RecordedEvent] {
        let rows = try await connection.query(
            "SELECT \(unescaped: eventColumns) FROM events WHERE id = ANY(\(ids)::text[]::uuid[])", logger: logger)
        var found: [String: RecordedEvent] = [:]
        for try await row in rows {
            let event = try decodeRecorded(row)
            found[event.event.id] = event
        }
        return found
    }

    struct StreamHead {
        var postingID: String
        var version: Int64 = 0
        var position: Int64 = 0
        var hash: [UInt8] = []
        var state: PostingState

        init(postingID: String) {
            self.postingID = postingID
            self.state = PostingState(postingID: postingID)
        }

        mutating func advance(position: Int64, hash: [UInt8]) {
            version += 1
            self.position = position
            self.hash = hash
        }
    }

    private func lockStreams(_ postingIDs: [String], on connection: PostgresConnection) async throws -> [String: StreamHead] {
        let rows = try await connection.query(
            """
            SELECT posting_id, version, head_position, encode(head_hash, 'hex'), snapshot_format, snapshot
            FROM streams WHERE posting_id = ANY(\(postingIDs)::text[]) ORDER BY posting_id FOR UPDATE
            """, logger: logger)
        var heads: [String: StreamHead] = [:]
        var stale: [String] = []
        for try await (postingID, version, position, hashHex, format, snapshot) in rows.decode(
            (String, Int64, Int64, String, Int, String).self)
        {
            var head = StreamHead(postingID: postingID)
            head.version = version
            head.position = position
            head.hash = Hex.decode(hashHex) ?? []
            if format == PostingState.snapshotFormat,
                let state = try? JSONDecoder().decode(PostingState.self, from: Data(snapshot.utf8)), state.version == version
            {
                head.state = state
            } else {
                stale.append(postingID)
            }
            heads[postingID] = head
        }
        // A snapshot of an older format (or one that disagrees with the stream) is rebuilt from the events.
        for postingID in stale {
            var state = PostingState(postingID: postingID)
            for event in try await stream(postingID, on: connection) { state.evolve(event.event) }
            heads[postingID]!.state = state
        }
        return heads
    }

    private func clock(on connection: PostgresConnection) async throws -> (Int64, Int64) {
        let rows = try await connection.query(
            """
            SELECT ((pg_current_xact_id()::text::int8 + position_offset) << 16),
                   (extract(epoch FROM now()) * 1000000)::int8
            FROM ledger_clock
            """, logger: logger)
        for try await (base, now) in rows.decode((Int64, Int64).self) { return (base, now) }
        throw ConfigurationError("the ledger_clock row is missing: run placementctl migrate")
    }

    private func usedPaymentRefs(_ refs: [String], on connection: PostgresConnection) async throws -> Set<CompanyPaymentRef> {
        let rows = try await connection.query(
            "SELECT company_id, payment_ref FROM payment_refs WHERE payment_ref = ANY(\(refs)::text[])", logger: logger)
        var used: Set<CompanyPaymentRef> = []
        for try await (company, ref) in rows.decode((String, String).self) {
            used.insert(CompanyPaymentRef(companyID: company, paymentRef: ref))
        }
        return used
    }

    private func insertEvents(_ records: [RecordedEvent], on connection: PostgresConnection) async throws {
        var positions: [Int64] = [], ids: [String] = [], postings: [String] = [], versions: [Int64] = []
        var types: [String] = [], occurred: [Int64] = [], expected: [Int64] = [], actors: [String] = []
        var data: [String] = [], prevs: [String] = [], hashes: [String] = []
        for r in records {
            positions.append(r.position)
            ids.append(r.event.id)
            postings.append(r.event.postingID)
            versions.append(r.version)
            types.append(r.event.type.rawValue)
            occurred.append(r.event.occurredAt.microseconds)
            expected.append(r.event.expectedVersion ?? -1)
            actors.append(r.event.actor ?? "")
            data.append(r.event.data.json.canonicalString)
            prevs.append(Hex.encode(r.prevHash))
            hashes.append(Hex.encode(r.hash))
        }
        try await connection.query(
            """
            INSERT INTO events (position, id, posting_id, version, type, occurred_at, recorded_at,
                                expected_version, actor, data, prev_hash, hash)
            SELECT u.p, u.i::uuid, u.s, u.v, u.t, timestamptz 'epoch' + u.o * interval '1 microsecond', now(),
                   NULLIF(u.e, -1), NULLIF(u.a, ''), u.d::jsonb, decode(u.ph, 'hex'), decode(u.h, 'hex')
            FROM unnest(\(positions)::int8[], \(ids)::text[], \(postings)::text[], \(versions)::int8[], \(types)::text[],
                        \(occurred)::int8[], \(expected)::int8[], \(actors)::text[], \(data)::text[], \(prevs)::text[],
                        \(hashes)::text[]) AS u(p, i, s, v, t, o, e, a, d, ph, h)
            """, logger: logger)
    }

    private func saveStreams(_ streams: [(StreamHead, PostingState)], on connection: PostgresConnection) async throws {
        let encoder = JSONEncoder()
        var postings: [String] = [], companies: [String] = [], versions: [Int64] = [], positions: [Int64] = []
        var hashes: [String] = [], snapshots: [String] = []
        for (head, state) in streams {
            postings.append(head.postingID)
            companies.append(state.companyID)
            versions.append(head.version)
            positions.append(head.position)
            hashes.append(Hex.encode(head.hash))
            snapshots.append(String(decoding: try encoder.encode(state), as: UTF8.self))
        }
        try await connection.query(
            """
            INSERT INTO streams (posting_id, company_id, version, head_position, head_hash, snapshot_format, snapshot)
            SELECT u.s, u.c, u.v, u.p, decode(u.h, 'hex'), \(PostingState.snapshotFormat), u.n
            FROM unnest(\(postings)::text[], \(companies)::text[], \(versions)::int8[], \(positions)::int8[],
                        \(hashes)::text[], \(snapshots)::text[]) AS u(s, c, v, p, h, n)
            ON CONFLICT (posting_id) DO UPDATE SET
                version = EXCLUDED.version, head_position = EXCLUDED.head_position, head_hash = EXCLUDED.head_hash,
                snapshot_format = EXCLUDED.snapshot_format, snapshot = EXCLUDED.snapshot
            """, logger: logger)
    }

    private func insertPaymentRefs(
        _ rows: [(company: String, ref: String, posting: String, position: Int64)], on connection: PostgresConnection
    ) async throws {
        try await connection.query(
            """
            INSERT INTO payment_refs (company_id, payment_ref, posting_id, position)
            SELECT * FROM unnest(\(rows.map(\.company))::text[], \(rows.map(\.ref))::text[], \(rows.map(\.posting))::text[],
                                 \(rows.map(\.position))::int8[])
            """, logger: logger)
    }
}

extension PSQLError {
    var sqlState: String? { serverInfo?[.sqlState] }

    /// Unique violations (a concurrent append took the same id, posting or payment reference),
    /// serialization failures and deadlocks: the append is retried and then sees the winner.
    var isRetryableRace: Bool {
        switch sqlState {
        case "23505", "40001", "40P01": true
        default: false
        }
    }
}
