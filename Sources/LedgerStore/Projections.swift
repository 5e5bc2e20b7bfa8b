import Foundation
public import LedgerCore
public import Logging
public import PostgresNIO

/// A read model derived from the log. Its tables live in one schema (`proj_<name>` when live) and
/// are created by the code that owns their shape: a change of shape is a new `version`, and a new
/// version is rebuilt from position 0 into a shadow schema while the old one keeps serving.
///
/// Every projection folds events into posting states with the domain's own `evolve` and derives
/// its rows from those states (`LedgerCore/ReadModel.swift`), so a live worker, a rebuild and an
/// `--as-of` report run the same code and cannot disagree.
public struct ProjectionDefinition: Sendable {
    public let name: String
    public let version: Int
    /// DDL; `{S}` stands for the schema.
    let tables: [String]
    /// The statements that write a folded batch's rows into `schema`: all the work a write does
    /// before it goes to PostgreSQL (a rebuild prepares them while the batch before is written).
    let statements: @Sendable (_ changes: FoldChanges, _ schema: String) -> [PostgresQuery]

    public static let postings = ProjectionDefinition(
        name: "postings", version: 1,
        tables: [
            """
            CREATE TABLE {S}.postings (
                posting_id text PRIMARY KEY, company_id text NOT NULL, title text NOT NULL, status text NOT NULL,
                openings int8 NOT NULL, applicants int8 NOT NULL, selected int8 NOT NULL, withdrawn int8 NOT NULL,
                stipend text NOT NULL, created_at int8 NOT NULL)
            """,
            "CREATE INDEX ON {S}.postings (company_id, posting_id)",
        ],
        statements: { changes, schema in
            let states = changes.postings.keys.sorted().map { changes.postings[$0]! }.filter(\.exists)
            guard !states.isEmpty else { return [] }
            let rows = states.map(\.postingJSON)
            func column(_ key: String) -> [String] {
                rows.map { if case .string(let s)? = $0[key] { s } else { "" } }
            }
            func number(_ key: String) -> [Int64] {
                rows.map { if case .int(let n)? = $0[key] { n } else { 0 } }
            }
            return [
                """
                INSERT INTO \(unescaped: schema).postings
                SELECT * FROM unnest(\(column("posting_id"))::text[], \(column("company_id"))::text[], \(column("title"))::text[],
                    \(column("status"))::text[], \(number("openings"))::int8[], \(number("applicants"))::int8[],
                    \(number("selected"))::int8[], \(number("withdrawn"))::int8[], \(states.map { $0.stipend.json.canonicalString })::text[],
                    \(states.map(\.createdAt.microseconds))::int8[])
                ON CONFLICT (posting_id) DO UPDATE SET company_id = EXCLUDED.company_id, title = EXCLUDED.title,
                    status = EXCLUDED.status, openings = EXCLUDED.openings, applicants = EXCLUDED.applicants,
                    selected = EXCLUDED.selected, withdrawn = EXCLUDED.withdrawn, stipend = EXCLUDED.stipend,
                    created_at = EXCLUDED.created_at
                """
            ]
        })

    public static let placements = ProjectionDefinition(
        name: "placements", version: 2,
        tables: [
            """
            CREATE TABLE {S}.placements (
                posting_id text NOT NULL, student_id text NOT NULL, company_id text NOT NULL, university_id text NOT NULL,
                title text NOT NULL, status text NOT NULL, settled boolean NOT NULL, stipend_kind text NOT NULL,
                currency text NOT NULL, minutes_logged int8 NOT NULL, cap_minor int8 NOT NULL, earned_minor int8 NOT NULL,
                paid_minor int8 NOT NULL, balance_minor int8 NOT NULL, rating int8, selected_at int8 NOT NULL,
                selected_month text NOT NULL, delivered_at int8, reviewed_at int8, last_paid_at int8,
                PRIMARY KEY (posting_id, student_id))
            """,
            "CREATE INDEX ON {S}.placements (company_id, posting_id, student_id)",
            "CREATE INDEX ON {S}.placements (university_id, posting_id, student_id)",
            "CREATE INDEX ON {S}.placements (student_id)",
            "CREATE INDEX ON {S}.placements (university_id, selected_at)",
            // The company stipends' open balances, in their order (version 2).
            """
            CREATE INDEX ON {S}.placements (company_id, selected_at, posting_id, student_id)
                INCLUDE (currency, earned_minor, paid_minor, balance_minor) WHERE balance_minor <> 0
            """,
            """
            CREATE TABLE {S}.applications (
                posting_id text NOT NULL, student_id text NOT NULL, university_id text NOT NULL, company_id text NOT NULL,
                applied_at int8 NOT NULL, PRIMARY KEY (posting_id, student_id))
            """,
            "CREATE INDEX ON {S}.applications (university_id, applied_at)",
            """
            CREATE TABLE {S}.payments (
                company_id text NOT NULL, payment_ref text NOT NULL, posting_id text NOT NULL, student_id text NOT NULL,
                university_id text NOT NULL, currency text NOT NULL, amount_minor int8 NOT NULL, occurred_at int8 NOT NULL,
                reversed boolean NOT NULL, PRIMARY KEY (company_id, payment_ref))
            """,
            "CREATE INDEX ON {S}.payments (occurred_at, payment_ref)",
            "CREATE INDEX ON {S}.payments (university_id, occurred_at)",
            // The reports' summary (version 2): see `ReportSummary`.
            """
            CREATE TABLE {S}.report_months (
                university_id text NOT NULL, month text NOT NULL, company_id text NOT NULL, currency text NOT NULL,
                \(ReportFigures.columns.map { "\($0) int8 NOT NULL" }.joined(separator: ", ")),
                PRIMARY KEY (university_id, month, company_id, currency))
            """,
            "CREATE INDEX ON {S}.report_months (company_id, currency)",
        ],
        statements: { changes, schema in
            var statements: [PostgresQuery] = []
            let (placements, applications, payments) = changes.changedRows()
            // Titles change only with the posting; a posting touched without students needs no rows.
            let none = Int64.min
            if !placements.isEmpty {
                let p = placements
                statements.append(
                    """
                    INSERT INTO \(unescaped: schema).placements
                    SELECT u.p, u.s, u.c, u.u, u.t, u.st, u.se, u.k, u.cu, u.m, u.cap, u.e, u.pa, u.b, NULLIF(u.r, 0), u.sa, u.sm,
                        NULLIF(u.da, \(none)), NULLIF(u.ra, \(none)), NULLIF(u.lp, \(none))
                    FROM unnest(\(p.map(\.postingID))::text[], \(p.map(\.studentID))::text[], \(p.map(\.companyID))::text[],
                        \(p.map(\.universityID))::text[], \(p.map(\.title))::text[], \(p.map(\.status.rawValue))::text[],
                        \(p.map(\.settled))::bool[], \(p.map(\.stipendKind))::text[], \(p.map(\.currency))::text[],
                        \(p.map(\.minutesLogged))::int8[], \(p.map(\.capMinor))::int8[], \(p.map(\.earnedMinor))::int8[],
                        \(p.map(\.paidMinor))::int8[], \(p.map(\.balanceMinor))::int8[], \(p.map { $0.rating ?? 0 })::int8[],
                        \(p.map(\.selectedAt.microseconds))::int8[], \(p.map { ReportMath.month($0.selectedAt) })::text[],
                        \(p.map { $0.deliveredAt?.microseconds ?? none })::int8[], \(p.map { $0.reviewedAt?.microseconds ?? none })::int8[],
                        \(p.map { $0.lastPaidAt?.microseconds ?? none })::int8[])
                        AS u(p, s, c, u, t, st, se, k, cu, m, cap, e, pa, b, r, sa, sm, da, ra, lp)
                    ON CONFLICT (posting_id, student_id) DO UPDATE SET company_id = EXCLUDED.company_id,
                        university_id = EXCLUDED.university_id, title = EXCLUDED.title, status = EXCLUDED.status,
                        settled = EXCLUDED.settled, stipend_kind = EXCLUDED.stipend_kind, currency = EXCLUDED.currency,
                        minutes_logged = EXCLUDED.minutes_logged, cap_minor = EXCLUDED.cap_minor,
                        earned_minor = EXCLUDED.earned_minor, paid_minor = EXCLUDED.paid_minor,
                        balance_minor = EXCLUDED.balance_minor, rating = EXCLUDED.rating, selected_at = EXCLUDED.selected_at,
                        selected_month = EXCLUDED.selected_month, delivered_at = EXCLUDED.delivered_at,
                        reviewed_at = EXCLUDED.reviewed_at, last_paid_at = EXCLUDED.last_paid_at
                    """)
            }
            if !applications.isEmpty {
                let a = applications
                statements.append(
                    """
                    INSERT INTO \(unescaped: schema).applications
                    SELECT * FROM unnest(\(a.map(\.postingID))::text[], \(a.map(\.studentID))::text[],
                        \(a.map(\.universityID))::text[], \(a.map(\.companyID))::text[], \(a.map(\.appliedAt.microseconds))::int8[])
                    ON CONFLICT (posting_id, student_id) DO UPDATE SET university_id = EXCLUDED.university_id,
                        company_id = EXCLUDED.company_id, applied_at = EXCLUDED.applied_at
                    """)
            }
            if !payments.isEmpty {
                let y = payments
                statements.append(
                    """
                    INSERT INTO \(unescaped: schema).payments
                    SELECT u.c, u.r, u.p, u.s, u.u, u.cu, u.a, u.o, u.x
                    FROM unnest(\(y.map(\.companyID))::text[], \(y.map(\.paymentRef))::text[], \(y.map(\.postingID))::text[],
                        \(y.map(\.studentID))::text[], \(y.map(\.universityID))::text[], \(y.map(\.currency))::text[],
                        \(y.map(\.amountMinor))::int8[], \(y.map(\.occurredAt.microseconds))::int8[], \(y.map(\.reversed))::bool[])
                        AS u(c, r, p, s, u, cu, a, o, x)
                    ON CONFLICT (company_id, payment_ref) DO UPDATE SET reversed = EXCLUDED.reversed
                    """)
            }
            if let summary = ProjectionDefinition.summaryStatement(ReportSummary.delta(changes), schema: schema) { statements.append(summary) }
            return statements
        })

    /// Adds a batch's change of the report summary to it. A row never empties: applications and
    /// placements are never removed from the log's history, only their figures change.
    static func summaryStatement(_ delta: [ReportKey: ReportFigures], schema: String) -> PostgresQuery? {
        guard !delta.isEmpty else { return nil }
        let keys = delta.keys.sorted()
        let table = "\(schema).report_months"
        let columns = ReportFigures.columns
        var bindings = PostgresBindings()
        bindings.append(keys.map(\.universityID))
        bindings.append(keys.map(\.month))
        bindings.append(keys.map(\.companyID))
        bindings.append(keys.map(\.currency))
        let figures = keys.map { delta[$0]!.values }
        for i in columns.indices { bindings.append(figures.map { $0[i] }) }
        let arrays = (0..<columns.count).map { "$\($0 + 5)::int8[]" }.joined(separator: ", ")
        return PostgresQuery(
            unsafeSQL: """
                INSERT INTO \(table) AS r SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \(arrays))
                ON CONFLICT (university_id, month, company_id, currency) DO UPDATE SET
                    \(columns.map { "\($0) = r.\($0) + EXCLUDED.\($0)" }.joined(separator: ", "))
                """, binds: bindings)
    }

    /// Every projection, in the order they are listed.
    public static let all: [ProjectionDefinition] = [.postings, .placements]

    public static func named(_ name: String) -> ProjectionDefinition? { all.first { $0.name == name } }

    public var liveSchema: String { "proj_\(name)" }
    var shadowSchema: String { "proj_\(name)_next" }
}

/// Which events a build takes: what is committed now, or what the ledger had at a past moment.
public enum LogBound: Sendable, Hashable {
    /// Everything a gap-free reader can see now.
    case now
    /// Events at or below a position.
    case position(Int64)
    /// Events recorded (recorded_at) at or before a time.
    case recordedBy(Timestamp)
}

/// The machinery every projection shares: creating its tables, folding a batch of events into
/// them, and reading the log in gap-free batches.
public enum ProjectionEngine {
    /// The NOTIFY channel appends signal on.
    public static let channel = "ledger_events"
    /// Events per transaction when a live worker catches up.
    public static let batchSize = 5_000
    /// Batches of builds from position 0 (rebuilds, `--as-of` reports): larger, because a posting's
    /// state and changed rows are written once per batch that touches it. A rebuild holds three at once: one
    /// being written, one being folded, one read ahead.
    public static let buildBatchSize = 20_000

    /// Creates a projection's schema and tables (dropping any leftover of that name first). A build
    /// from position 0 passes `withIndexes: false` and calls `createIndexes` once the bulk of the log
    /// is in: building an index once is far cheaper than maintaining it row by row.
    static func create(
        _ definition: ProjectionDefinition, schema: String, withIndexes: Bool = true, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.run(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"), logger: logger)
        try await connection.run(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: logger)
        try await connection.run(
            PostgresQuery(unsafeSQL: "CREATE TABLE \(schema).state (posting_id text PRIMARY KEY, state text NOT NULL)"), logger: logger)
        for ddl in definition.tables where withIndexes || !Self.isSecondaryIndex(ddl) {
            try await connection.run(PostgresQuery(unsafeSQL: ddl.replacingOccurrences(of: "{S}", with: schema)), logger: logger)
        }
    }

    /// The secondary indexes `create(withIndexes: false)` left out, and fresh planner statistics
    /// for every table of the schema (a swapped-in schema would otherwise serve its first queries
    /// with no statistics at all, until autovacuum gets to it).
    static func createIndexes(_ definition: ProjectionDefinition, schema: String, on connection: PostgresConnection, logger: Logger) async throws {
        for ddl in definition.tables where Self.isSecondaryIndex(ddl) {
            try await connection.run(PostgresQuery(unsafeSQL: ddl.replacingOccurrences(of: "{S}", with: schema)), logger: logger)
        }
        try await analyze(schema: schema, on: connection, logger: logger)
    }

    /// Fresh planner statistics for every table of a schema.
    static func analyze(schema: String, on connection: PostgresConnection, logger: Logger) async throws {
        var tables: [String] = []
        for try await table in try await connection.run(
            "SELECT tablename FROM pg_tables WHERE schemaname = \(schema) ORDER BY tablename", logger: logger
        ).decode(String.self) { tables.append(table) }
        for table in tables {
            try await connection.run(PostgresQuery(unsafeSQL: "ANALYZE \(schema).\(table)"), logger: logger)
        }
    }

    /// A live worker that caught up with at least this many events in one go (after an import,
    /// or a daemon started behind the log) analyzes its tables: autovacuum gets to them only
    /// later, and until then the planner sees a table of the size it had before.
    public static let analyzeAfterCatchUp = 50_000

    private static func isSecondaryIndex(_ ddl: String) -> Bool { ddl.hasPrefix("CREATE INDEX") }

    /// Folds `events` (in position order, following what `schema` already holds) into the schema.
    /// Postings in `cache` are taken from it instead of the state table. Returns the postings'
    /// states after the batch.
    @discardableResult
    static func apply(
        _ events: [RecordedEvent], to definition: ProjectionDefinition, schema: String, cache: StateCache? = nil,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> [String: PostingState] {
        guard !events.isEmpty else { return [:] }
        var cached: [String: PostingState] = [:]
        if let cache {
            for id in Set(events.map(\.event.postingID)) { cached[id] = cache.state(id) }
        }
        let changes = FoldChanges.fold(
            events, states: try await states(for: events, overlay: cached, schema: schema, on: connection, logger: logger))
        try await run(statements(changes, for: definition, schema: schema), on: connection, logger: logger)
        return changes.postings
    }

    /// The states of the postings `events` touch (absent: new ones): those in `overlay` from it
    /// (a rebuild's batch before, still being written), the others from `schema`'s state table.
    static func states(
        for events: [RecordedEvent], overlay: [String: PostingState] = [:], schema: String, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [String: PostingState] {
        var states: [String: PostingState] = [:]
        var ids: [String] = []
        for id in Set(events.map(\.event.postingID)) {
            if let state = overlay[id] { states[id] = state } else { ids.append(id) }
        }
        guard !ids.isEmpty else { return states }
        for try await (id, text) in try await connection.run(
            "SELECT posting_id, state FROM \(unescaped: schema).state WHERE posting_id = ANY(\(ids)::text[])", logger: logger
        ).decode((String, String).self) {
            states[id] = try PostingState(snapshot: text)
        }
        return states
    }

    /// The statements that write a folded batch: the states, then the definition's rows.
    static func statements(_ changes: FoldChanges, for definition: ProjectionDefinition, schema: String) -> [PostgresQuery] {
        let keys = changes.postings.keys.sorted()
        let texts = keys.map { changes.postings[$0]!.snapshotText }  // the same state is always the same text
        let state: PostgresQuery = """
            INSERT INTO \(unescaped: schema).state SELECT * FROM unnest(\(keys)::text[], \(texts)::text[])
            ON CONFLICT (posting_id) DO UPDATE SET state = EXCLUDED.state
            """
        return [state] + definition.statements(changes, schema)
    }

    static func run(_ statements: [PostgresQuery], on connection: PostgresConnection, logger: Logger) async throws {
        for statement in statements { try await connection.run(statement, logger: logger) }
    }

    /// The next batch of events after `position` within `bound`, gap-free, as far as a fold reads
    /// them (`foldColumns`: no ids, actors or hashes). Runs inside a transaction.
    ///
    /// `plannerIsOff`: the caller's statement before this one selected `plannerOff` already.
    static func fetch(
        after position: Int64, limit: Int, bound: LogBound, plannerIsOff: Bool = false, on connection: PostgresConnection, logger: Logger
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
        }
        // The plan must be a walk of the primary key in position order that stops after `limit`
        // rows. With statistics from before a bulk import the planner was seen to choose a bitmap
        // scan and a sort of the whole rest of the log instead, turning every event's data into
        // text for each batch (a daemon's catch-up of 1M imported events: 26k events/s against
        // 55k in runs where it did not). Inside the caller's transaction, bitmap scans and sorts
        // are off for this statement only.
        if !plannerIsOff { try await connection.run(PostgresQuery(unsafeSQL: "SELECT \(plannerOff)"), logger: logger) }
        var events: [RecordedEvent] = []
        events.reserveCapacity(limit)
        for try await row in try await connection.run(query, logger: logger) { events.append(try decodeForFold(row)) }
        try await connection.run(
            """
            SELECT set_config(name, reset_val, true) FROM pg_settings WHERE name IN ('enable_bitmapscan', 'enable_sort')
            """, logger: logger)
        return events
    }

    /// Select-list items that turn bitmap scans and sorts off for the rest of the transaction (see `fetch`).
    static let plannerOff = "set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)"

    /// Select-list items that set a projection transaction up (see `transaction`).
    static func settings(durable: Bool) -> String {
        """
        set_config('synchronous_commit', '\(durable ? "on" : "off")', true), \
        CASE WHEN current_user <> '\(EmbeddedCluster.appUser)' THEN set_config('role', '\(EmbeddedCluster.appUser)', true) END
        """
    }

    /// Runs `body` in a transaction acting as the app role, so every projection object has one owner
    /// whether the daemon or the owner's CLI builds it.
    ///
    /// The commit does not wait for its WAL flush (`synchronous_commit = off`): a projection is
    /// derived data and its rows and checkpoint commit together, so a crash can only lose the last
    /// batches whole, and the worker applies them again from the log. Appends keep waiting for
    /// their flush; they no longer share each fsync with two projection commits.
    /// `durable: true` (the swap of a rebuild) waits for the flush as usual.
    ///
    /// `settings: false`: the body's first statement selects `settings(durable:)` itself (one round
    /// trip fewer).
    static func transaction<R>(
        on connection: PostgresConnection, durable: Bool = false, settings: Bool = true, logger: Logger, _ body: () async throws -> R
    ) async throws -> R {
        try await connection.run("BEGIN", logger: logger)
        do {
            if settings {
                try await connection.run(PostgresQuery(unsafeSQL: "SELECT \(Self.settings(durable: durable))"), logger: logger)
            }
            let result = try await body()
            try await connection.run("COMMIT", logger: logger)
            return result
        } catch {
            _ = try? await connection.run("ROLLBACK", logger: logger)
            throw error
        }
    }
}
