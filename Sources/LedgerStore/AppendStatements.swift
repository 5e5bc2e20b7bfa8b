import LedgerCore
import Logging
import PostgresNIO

// The append transaction's three statements, prepared once per connection. Parsing and planning
// them on every append cost PostgreSQL more than running them (measured with
// `log_min_duration_statement = 0`: parse + bind ≈ 0.9 ms of 2 ms statement time per single-event
// append). The tables they touch (`events`, `streams`, `payment_refs`, `ledger_clock`) are never
// dropped or renamed, so a cached plan stays valid; PostgreSQL re-plans after a migration by itself.

/// Takes the append barrier in shared mode (see `EventStore.holdAppends`), then waits for the
/// turn of every stream involved, in key order (see `EventStore.serialiseStreams`).
///
/// It also sets the transaction's `plan_cache_mode`. A prepared statement is parsed once, but
/// PostgreSQL still plans it anew on every execution while it judges a plan made for the values
/// cheaper than the generic one, and it always judged so for the lock and write statements: a
/// group spent more CPU planning them than running them (docs/performance.md, "Planning on every
/// append"). A small group forces the generic plans (index probes per element, fine for a few
/// elements); a big one (`EventStore.preparedLimit`) keeps `auto`, so its unprepared statements
/// are planned with their values.
struct SerialiseStreams: PostgresPreparedStatement {
    static let name = "placement_serialise_streams_v3"
    static let sql = """
        SELECT CASE WHEN keys.key IS NULL THEN pg_advisory_xact_lock_shared(\(EventStore.appendBarrier.0), \(EventStore.appendBarrier.1))
                    ELSE pg_advisory_xact_lock(1347, keys.key) END,
               CASE WHEN keys.key IS NULL THEN set_config('plan_cache_mode', $2, true) END
        FROM (SELECT NULL::int4 AS key
              UNION ALL (SELECT DISTINCT hashtext(posting_id) FROM unnest($1::text[]) AS posting_id ORDER BY 1)) AS keys
        """
    typealias Row = ()
    var postingIDs: [String]
    /// Whether the group's statements run prepared, with generic plans.
    var generic: Bool

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(postingIDs)
        bindings.append(generic ? "force_generic_plan" : "auto")
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}

/// The clock, the locked streams, the payment references in use and the recorded ids (see
/// `EventStore.lockStreams`).
struct LockStreams: PostgresPreparedStatement {
    static let name = "placement_lock_streams_v2"
    // The base is NULL when it is not above every recorded position (a clock behind its log, as
    // after a logical restore): the append is refused rather than given positions below others.
    static let sql = """
        WITH locked AS (
            SELECT posting_id, version, head_position, head_hash, snapshot_format, snapshot
            FROM streams WHERE posting_id = ANY($1::text[]) ORDER BY posting_id FOR UPDATE)
        SELECT 0, NULL::text, CASE WHEN c.base > COALESCE((SELECT max(position) FROM events), 0) THEN c.base END,
               (extract(epoch FROM now()) * 1000000)::int8, NULL::text, NULL::int4, NULL::text
        FROM (SELECT (pg_current_xact_id()::text::int8 + position_offset) << 16 AS base FROM ledger_clock) c
        UNION ALL
        SELECT 1, posting_id, version, head_position, encode(head_hash, 'hex'), snapshot_format, snapshot FROM locked
        UNION ALL
        SELECT 2, company_id, NULL, NULL, payment_ref, NULL, NULL
        FROM payment_refs WHERE payment_ref = ANY($2::text[])
        UNION ALL
        SELECT 3, recorded.id::text, NULL, NULL, NULL, NULL, NULL
        FROM unnest($3::text[]::uuid[]) AS wanted(wanted_id)
        CROSS JOIN LATERAL (SELECT id FROM events WHERE events.id = wanted.wanted_id LIMIT 1) AS recorded
        """
    typealias Row = (Int, String?, Int64?, Int64?, String?, Int?, String?)
    var postingIDs: [String]
    var paymentRefs: [String]
    var eventIDs: [String]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(postingIDs)
        bindings.append(paymentRefs)
        bindings.append(eventIDs)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// The events, the streams' new heads and snapshots, the payment references, and the read models'
/// rows: one statement (see `EventStore.write`). Returns a row, so that a unique violation surfaces
/// here and not as a COMMIT that quietly rolled back.
struct WriteEvents<Rows: ReadModelRows>: PostgresPreparedStatement {
    static var name: String { "placement_write_events_v3_" + Rows.name }
    static var sql: String { Rows.ctes.isEmpty ? eventsSQL + "\nSELECT 1" : eventsSQL + ",\n" + Rows.ctes + "\nSELECT 1" }
    static var eventsSQL: String { writeEventsSQL }
    typealias Row = Int
    // Events.
    var positions: [Int64] = [], ids: [String] = [], postings: [String] = [], versions: [Int64] = []
    var types: [String] = [], occurred: [Int64] = [], expected: [Int64] = [], actors: [String] = []
    var data: [String] = [], prevs: [String] = [], hashes: [String] = []
    // Streams.
    var streamIDs: [String] = [], companies: [String] = [], streamVersions: [Int64] = [], heads: [Int64] = []
    var headHashes: [String] = [], snapshots: [String] = []
    // Payment references.
    var refCompanies: [String] = [], refs: [String] = [], refPostings: [String] = [], refPositions: [Int64] = []
    // Read models.
    var rows: Rows

    init(rows: Rows) { self.rows = rows }

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(capacity: 80)
        b.append(positions); b.append(ids); b.append(postings); b.append(versions); b.append(types); b.append(occurred)
        b.append(expected); b.append(actors); b.append(data); b.append(prevs); b.append(hashes)
        b.append(streamIDs); b.append(companies); b.append(streamVersions); b.append(heads); b.append(headHashes)
        b.append(snapshots)
        b.append(refCompanies); b.append(refs); b.append(refPostings); b.append(refPositions)
        rows.appendBindings(to: &b)
        return b
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int.self) }
}

extension WriteEvents where Rows == NoReadModelRows {
    init() { self.init(rows: NoReadModelRows()) }
}

/// How many parameters the store's part of `WriteEvents` takes.
let writeEventsParameterCount = 21

/// The store's part of `WriteEvents` ($1…$21; the read models' CTEs follow).
private let writeEventsSQL = """
        WITH e AS (
            INSERT INTO events (position, id, posting_id, version, type, occurred_at, recorded_at,
                                expected_version, actor, data, prev_hash, hash, hash_format)
            SELECT u.p, u.i::uuid, u.s, u.v, u.t, timestamptz 'epoch' + u.o * interval '1 microsecond', now(),
                   NULLIF(u.e, -1), NULLIF(u.a, ''), u.d::jsonb, decode(u.ph, 'hex'), decode(u.h, 'hex'), \(PrivateEventHash.format)
            FROM unnest($1::int8[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::int8[], $7::int8[], $8::text[],
                        $9::text[], $10::text[], $11::text[]) AS u(p, i, s, v, t, o, e, a, d, ph, h)),
        s AS (
            INSERT INTO streams (posting_id, company_id, version, head_position, head_hash, snapshot_format, snapshot)
            SELECT u.s, u.c, u.v, u.p, decode(u.h, 'hex'), \(PostingState.snapshotFormat), u.n
            FROM unnest($12::text[], $13::text[], $14::int8[], $15::int8[], $16::text[], $17::text[]) AS u(s, c, v, p, h, n)
            ON CONFLICT (posting_id) DO UPDATE SET
                version = EXCLUDED.version, head_position = EXCLUDED.head_position, head_hash = EXCLUDED.head_hash,
                snapshot_format = EXCLUDED.snapshot_format, snapshot = EXCLUDED.snapshot),
        r AS (
            INSERT INTO payment_refs (company_id, payment_ref, posting_id, position)
            SELECT * FROM unnest($18::text[], $19::text[], $20::text[], $21::int8[]))
        """
