import Foundation
public import LedgerCore
public import Logging
public import PostgresNIO
import LedgerStore

/// A read model derived from the log. Its tables live in one schema (`proj_<name>` when live) and
/// are created by the code that owns their shape: a change of shape is a new `version`, and a new
/// version is rebuilt from position 0 into a shadow schema while the old one keeps serving.
///
/// Every projection derives its rows from posting states (`LedgerCore/ReadModel.swift`): an
/// append from the states it has just decided (`InlineProjections`), a rebuild and an `--as-of`
/// report from states folded with the domain's own `evolve`. They share the row code and the SQL
/// below, so they cannot disagree.
public struct ProjectionDefinition: Sendable {
    public let name: String
    public let version: Int
    /// DDL; `{S}` stands for the schema.
    let tables: [String]
    /// How a batch's changed rows are written, one data-modifying CTE per table.
    let writes: [TableWrite]

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
        writes: [
            TableWrite(
                table: "postings", types: ["text", "text", "text", "text", "int8", "int8", "int8", "int8", "text", "int8"],
                cte: { schema, arrays in
                    """
                    postings_rows AS (
                        INSERT INTO \(schema).postings SELECT * FROM unnest(\(arrays))
                        ON CONFLICT (posting_id) DO UPDATE SET company_id = EXCLUDED.company_id, title = EXCLUDED.title,
                            status = EXCLUDED.status, openings = EXCLUDED.openings, applicants = EXCLUDED.applicants,
                            selected = EXCLUDED.selected, withdrawn = EXCLUDED.withdrawn, stipend = EXCLUDED.stipend,
                            created_at = EXCLUDED.created_at)
                    """
                },
                count: { $0.postings.count },
                bind: { rows, b in
                    let states = rows.postings.map(\.state)
                    let json = rows.postings.map(\.row)
                    func column(_ key: String) -> [String] { json.map { if case .string(let s)? = $0[key] { s } else { "" } } }
                    func number(_ key: String) -> [Int64] { json.map { if case .int(let n)? = $0[key] { n } else { 0 } } }
                    b.append(column("posting_id"))
                    b.append(column("company_id"))
                    b.append(column("title"))
                    b.append(column("status"))
                    b.append(number("openings"))
                    b.append(number("applicants"))
                    b.append(number("selected"))
                    b.append(number("withdrawn"))
                    b.append(states.map { $0.stipend.json.canonicalString })
                    b.append(states.map(\.createdAt.microseconds))
                })
        ])

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
        writes: [
            // Absent times and ratings travel as a sentinel (arrays of nullable values cost more).
            TableWrite(
                table: "placements",
                types: [
                    "text", "text", "text", "text", "text", "text", "bool", "text", "text", "int8", "int8", "int8", "int8", "int8", "int8",
                    "int8", "text", "int8", "int8", "int8",
                ],
                cte: { schema, arrays in
                    let none = Int64.min
                    return """
                        placements_rows AS (
                            INSERT INTO \(schema).placements
                            SELECT u.p, u.s, u.c, u.u, u.t, u.st, u.se, u.k, u.cu, u.m, u.cap, u.e, u.pa, u.b, NULLIF(u.r, 0), u.sa, u.sm,
                                NULLIF(u.da, \(none)), NULLIF(u.ra, \(none)), NULLIF(u.lp, \(none))
                            FROM unnest(\(arrays)) AS u(p, s, c, u, t, st, se, k, cu, m, cap, e, pa, b, r, sa, sm, da, ra, lp)
                            ON CONFLICT (posting_id, student_id) DO UPDATE SET company_id = EXCLUDED.company_id,
                                university_id = EXCLUDED.university_id, title = EXCLUDED.title, status = EXCLUDED.status,
                                settled = EXCLUDED.settled, stipend_kind = EXCLUDED.stipend_kind, currency = EXCLUDED.currency,
                                minutes_logged = EXCLUDED.minutes_logged, cap_minor = EXCLUDED.cap_minor,
                                earned_minor = EXCLUDED.earned_minor, paid_minor = EXCLUDED.paid_minor,
                                balance_minor = EXCLUDED.balance_minor, rating = EXCLUDED.rating, selected_at = EXCLUDED.selected_at,
                                selected_month = EXCLUDED.selected_month, delivered_at = EXCLUDED.delivered_at,
                                reviewed_at = EXCLUDED.reviewed_at, last_paid_at = EXCLUDED.last_paid_at)
                        """
                },
                count: { $0.placements.count },
                bind: { rows, b in
                    let none = Int64.min
                    let p = rows.placements
                    b.append(p.map(\.postingID)); b.append(p.map(\.studentID)); b.append(p.map(\.companyID)); b.append(p.map(\.universityID))
                    b.append(p.map(\.title)); b.append(p.map(\.status.rawValue)); b.append(p.map(\.settled)); b.append(p.map(\.stipendKind))
                    b.append(p.map(\.currency)); b.append(p.map(\.minutesLogged)); b.append(p.map(\.capMinor)); b.append(p.map(\.earnedMinor))
                    b.append(p.map(\.paidMinor)); b.append(p.map(\.balanceMinor)); b.append(p.map { $0.rating ?? 0 })
                    b.append(p.map(\.selectedAt.microseconds)); b.append(p.map { ReportMath.month($0.selectedAt) })
                    b.append(p.map { $0.deliveredAt?.microseconds ?? none }); b.append(p.map { $0.reviewedAt?.microseconds ?? none })
                    b.append(p.map { $0.lastPaidAt?.microseconds ?? none })
                }),
            TableWrite(
                table: "applications", types: ["text", "text", "text", "text", "int8"],
                cte: { schema, arrays in
                    """
                    applications_rows AS (
                        INSERT INTO \(schema).applications SELECT * FROM unnest(\(arrays))
                        ON CONFLICT (posting_id, student_id) DO UPDATE SET university_id = EXCLUDED.university_id,
                            company_id = EXCLUDED.company_id, applied_at = EXCLUDED.applied_at)
                    """
                },
                count: { $0.applications.count },
                bind: { rows, b in
                    let a = rows.applications
                    b.append(a.map(\.postingID)); b.append(a.map(\.studentID)); b.append(a.map(\.universityID)); b.append(a.map(\.companyID))
                    b.append(a.map(\.appliedAt.microseconds))
                }),
            TableWrite(
                table: "payments", types: ["text", "text", "text", "text", "text", "text", "int8", "int8", "bool"],
                cte: { schema, arrays in
                    """
                    payments_rows AS (
                        INSERT INTO \(schema).payments SELECT * FROM unnest(\(arrays))
                        ON CONFLICT (company_id, payment_ref) DO UPDATE SET reversed = EXCLUDED.reversed)
                    """
                },
                count: { $0.payments.count },
                bind: { rows, b in
                    let y = rows.payments
                    b.append(y.map(\.companyID)); b.append(y.map(\.paymentRef)); b.append(y.map(\.postingID)); b.append(y.map(\.studentID))
                    b.append(y.map(\.universityID)); b.append(y.map(\.currency)); b.append(y.map(\.amountMinor))
                    b.append(y.map(\.occurredAt.microseconds)); b.append(y.map(\.reversed))
                }),
            // The report summary takes deltas, in key order (so two appends never deadlock on it).
            // A row never empties: applications and placements stay in the log's history.
            TableWrite(
                table: "report_months", types: ["text", "text", "text", "text"] + ReportFigures.columns.map { _ in "int8" },
                cte: { schema, arrays in
                    """
                    report_months_rows AS (
                        INSERT INTO \(schema).report_months AS r SELECT * FROM unnest(\(arrays))
                        ON CONFLICT (university_id, month, company_id, currency) DO UPDATE SET
                            \(ReportFigures.columns.map { "\($0) = r.\($0) + EXCLUDED.\($0)" }.joined(separator: ", ")))
                    """
                },
                count: { $0.summaryKeys.count },
                bind: { rows, b in
                    let keys = rows.summaryKeys
                    b.append(keys.map(\.universityID)); b.append(keys.map(\.month)); b.append(keys.map(\.companyID)); b.append(keys.map(\.currency))
                    for i in ReportFigures.columns.indices { b.append(rows.summaryFigures.map { $0[i] }) }
                }),
        ])

    /// What each event changed, with its recorded time (`LedgerHistory`): the statement's lines
    /// and the report summary's changes. The statement, the aging and every report `as_of` read
    /// these instead of folding the log. Rows are only ever added.
    public static let history = ProjectionDefinition(
        name: "history", version: 1,
        tables: [
            """
            CREATE TABLE {S}.lines (
                company_id text NOT NULL, university_id text NOT NULL, currency text NOT NULL, posting_id text NOT NULL,
                student_id text NOT NULL, kind text NOT NULL, amount_minor int8 NOT NULL, occurred_at int8 NOT NULL,
                position int8 NOT NULL, event_id text NOT NULL, payment_ref text, recorded_at int8 NOT NULL, selected_at int8 NOT NULL)
            """,
            // A statement's period, and its opening summed from the index alone (and payouts of one company).
            "CREATE INDEX ON {S}.lines (company_id, occurred_at, position) INCLUDE (currency, kind, amount_minor, recorded_at)",
            // A placement's lines, read from the index alone: the aging's, and a company's balances
            // summed as of a time (a scan of the company's entries, filtered by recorded time).
            "CREATE INDEX ON {S}.lines (company_id, posting_id, student_id) INCLUDE (currency, kind, occurred_at, position, amount_minor, recorded_at, selected_at)",
            // Payments: whether one was reversed, payouts by university and of everyone.
            "CREATE INDEX ON {S}.lines (company_id, payment_ref) WHERE payment_ref IS NOT NULL",
            "CREATE INDEX ON {S}.lines (university_id, occurred_at) WHERE payment_ref IS NOT NULL",
            "CREATE INDEX ON {S}.lines (occurred_at) WHERE payment_ref IS NOT NULL",
            """
            CREATE TABLE {S}.report_changes (
                university_id text NOT NULL, month text NOT NULL, company_id text NOT NULL, currency text NOT NULL,
                recorded_at int8 NOT NULL, \(ReportFigures.columns.map { "\($0) int8 NOT NULL" }.joined(separator: ", ")))
            """,
            "CREATE INDEX ON {S}.report_changes (university_id, recorded_at)",
            "CREATE INDEX ON {S}.report_changes (company_id, recorded_at)",
        ],
        writes: [
            TableWrite(
                table: "lines",
                types: ["text", "text", "text", "text", "text", "text", "int8", "int8", "int8", "text", "text", "int8", "int8"],
                cte: { schema, arrays in
                    """
                    lines_rows AS (
                        INSERT INTO \(schema).lines
                        SELECT u.c, u.u, u.cu, u.p, u.s, u.k, u.a, u.o, u.n, u.e, NULLIF(u.r, ''), u.ra, u.sa
                        FROM unnest(\(arrays)) AS u(c, u, cu, p, s, k, a, o, n, e, r, ra, sa))
                    """
                },
                count: { $0.lines.count },
                bind: { rows, b in
                    let l = rows.lines
                    b.append(l.map(\.companyID)); b.append(l.map(\.universityID)); b.append(l.map(\.line.currency))
                    b.append(l.map(\.line.postingID)); b.append(l.map(\.line.studentID)); b.append(l.map(\.line.kind.rawValue))
                    b.append(l.map(\.line.amountMinor)); b.append(l.map(\.line.occurredAt.microseconds)); b.append(l.map(\.line.position))
                    b.append(l.map(\.line.eventID)); b.append(l.map { $0.line.paymentRef ?? "" }); b.append(l.map(\.recordedAt.microseconds))
                    b.append(l.map(\.selectedAt.microseconds))
                }),
            TableWrite(
                table: "report_changes", types: ["text", "text", "text", "text", "int8"] + ReportFigures.columns.map { _ in "int8" },
                cte: { schema, arrays in
                    "report_changes_rows AS (INSERT INTO \(schema).report_changes SELECT * FROM unnest(\(arrays)))"
                },
                count: { $0.changes.count },
                bind: { rows, b in
                    let keys = rows.changes.map(\.0)
                    b.append(keys.map(\.key.universityID)); b.append(keys.map(\.key.month)); b.append(keys.map(\.key.companyID))
                    b.append(keys.map(\.key.currency)); b.append(keys.map(\.recordedAt.microseconds))
                    for i in ReportFigures.columns.indices { b.append(rows.changes.map { $0.1.values[i] }) }
                }),
        ])

    /// Every projection, in the order they are listed.
    public static let all: [ProjectionDefinition] = [.postings, .placements, .history]

    public static func named(_ name: String) -> ProjectionDefinition? { all.first { $0.name == name } }

    /// Whether its rows come from what each event changed (`FoldChanges.history`), which a build
    /// of any other projection need not work out.
    var keepsHistory: Bool { name == Self.history.name }

    public var liveSchema: String { "proj_\(name)" }
    var shadowSchema: String { "proj_\(name)_next" }

    /// One statement that writes a batch's changed rows of `definitions` into their schemas (only
    /// the tables it changes), or nil when it changes none.
    static func writeStatement(_ changes: FoldChanges, _ definitions: [(ProjectionDefinition, schema: String)]) -> PostgresQuery? {
        let all = definitions.flatMap { definition, schema in definition.writes.map { ($0, schema) } }
        let rows = ChangedRows(changes, tables: Set(all.map(\.0.table)))
        let writes = all.filter { $0.0.count(rows) > 0 }
        guard !writes.isEmpty else { return nil }
        var bindings = PostgresBindings()
        for (write, _) in writes { write.bind(rows, &bindings) }
        return PostgresQuery(unsafeSQL: "WITH " + TableWrite.ctes(writes, first: 1) + "\nSELECT 1", binds: bindings)
    }
}

/// One table's part of writing a batch's changed rows: a data-modifying CTE over `unnest` of one
/// array parameter per column, and those parameters.
struct TableWrite: Sendable {
    let table: String
    /// The columns' array element types, in parameter order.
    let types: [String]
    /// The CTE, given the schema and its `unnest` arguments (`$n::type[], …`).
    let cte: @Sendable (_ schema: String, _ arrays: String) -> String
    /// How many rows a batch writes to the table.
    let count: @Sendable (_ rows: ChangedRows) -> Int
    /// Appends the parameters, one array per column.
    let bind: @Sendable (_ rows: ChangedRows, _ bindings: inout PostgresBindings) -> Void

    /// The CTEs of `writes`, comma-separated, parameters numbered in turn from `first`.
    static func ctes(_ writes: [(TableWrite, schema: String)], first: Int) -> String {
        var next = first
        var ctes: [String] = []
        for (write, schema) in writes {
            let arrays = write.types.enumerated().map { "$\(next + $0.offset)::\($0.element)[]" }.joined(separator: ", ")
            ctes.append(write.cte(schema, arrays))
            next += write.types.count
        }
        return ctes.joined(separator: ",\n")
    }
}

/// The rows a batch changed, derived once for every table: the postings whose row changed, the
/// placements, applications and payments that changed (`FoldChanges.changedRows`), and the change
/// of the report summary.
struct ChangedRows: Sendable {
    var postings: [(state: PostingState, row: JSON)]
    var placements: [PlacementRow]
    var applications: [ApplicationRow]
    var payments: [PaymentRow]
    var summaryKeys: [ReportKey]
    var summaryFigures: [[Int64]]
    var lines: [LedgerHistory.Line]
    var changes: [(LedgerHistory.DeltaKey, ReportFigures)]

    /// `tables`: the tables to derive rows for (nil: all); a build of one projection derives only its own.
    init(_ changes: FoldChanges, tables: Set<String>? = nil) {
        func wants(_ table: String) -> Bool { tables?.contains(table) ?? true }
        // A posting's row changes only with some events (an hour logged leaves it as it was).
        postings =
            !wants("postings") ? []
            : changes.postings.keys.sorted().compactMap { id in
                let after = changes.postings[id]!
                guard after.exists else { return nil }
                let row = after.postingJSON
                if let before = changes.before[id], before.exists, before.postingJSON == row { return nil }
                return (after, row)
            }
        (placements, applications, payments) =
            wants("placements") || wants("applications") || wants("payments") ? changes.changedRows() : ([], [], [])
        let delta = wants("report_months") ? ReportSummary.delta(changes) : [:]
        summaryKeys = delta.keys.sorted()
        summaryFigures = summaryKeys.map { delta[$0]!.values }
        lines = changes.history.lines
        self.changes = wants("report_changes") ? changes.history.summaryRows(groupDelta: wants("report_months") ? delta : ReportSummary.delta(changes)) : []
    }
}

/// The machinery every projection shares: creating its tables, folding a batch of events into
/// them (builds from the log), and the transactions they run in.
public enum ProjectionEngine {
    /// Events per transaction when a projection catches up in place (see `ProjectionRunner.attach`).
    public static let batchSize = 5_000
    /// Batches of builds from position 0 (rebuilds, `--as-of` reports): larger, because a posting's
    /// state and changed rows are written once per batch that touches it. A rebuild holds three at once: one
    /// being written, one being folded, one read ahead.
    public static let buildBatchSize = 20_000

    /// Creates a projection's schema and tables (dropping any leftover of that name first), with the
    /// state table a build folds from. A build from position 0 passes `withIndexes: false` and calls
    /// `createIndexes` once the bulk of the log is in: building an index once is far cheaper than
    /// maintaining it row by row.
    static func create(
        _ definition: ProjectionDefinition, schema: String, withIndexes: Bool = true, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.run(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"), logger: logger)
        // Through the owner's function: the daemon's role has no CREATE on the database.
        for try await _ in try await connection.run("SELECT placement_create_schema(\(schema))", logger: logger) {}
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

    /// A projection that caught up with at least this many events in place (see
    /// `ProjectionRunner.prepare`) analyzes its tables.
    public static let analyzeAfterCatchUp = 50_000

    private static func isSecondaryIndex(_ ddl: String) -> Bool { ddl.hasPrefix("CREATE INDEX") }

    /// Folds `events` (in position order, following what `schema` already holds) into the schema,
    /// its state table included. Returns the postings' states after the batch.
    @discardableResult
    static func apply(
        _ events: [RecordedEvent], to definition: ProjectionDefinition, schema: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> [String: PostingState] {
        guard !events.isEmpty else { return [:] }
        let changes = FoldChanges.fold(
            events, states: try await states(for: events, schema: schema, on: connection, logger: logger), history: definition.keepsHistory)
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

    /// The statements that write a folded batch of a build: the states, then the definition's rows.
    static func statements(_ changes: FoldChanges, for definition: ProjectionDefinition, schema: String) -> [PostgresQuery] {
        let keys = changes.postings.keys.sorted()
        let texts = keys.map { changes.postings[$0]!.snapshotText }  // the same state is always the same text
        let state: PostgresQuery = """
            INSERT INTO \(unescaped: schema).state SELECT * FROM unnest(\(keys)::text[], \(texts)::text[])
            ON CONFLICT (posting_id) DO UPDATE SET state = EXCLUDED.state
            """
        return [state] + (ProjectionDefinition.writeStatement(changes, [(definition, schema)]).map { [$0] } ?? [])
    }

    static func run(_ statements: [PostgresQuery], on connection: PostgresConnection, logger: Logger) async throws {
        for statement in statements { try await connection.run(statement, logger: logger) }
    }

    /// Select-list items that set a build's transaction up (see `transaction`).
    static func settings(durable: Bool) -> String {
        """
        set_config('synchronous_commit', '\(durable ? "on" : "off")', true), \
        CASE WHEN current_user <> '\(EmbeddedCluster.appUser)' THEN set_config('role', '\(EmbeddedCluster.appUser)', true) END
        """
    }

    /// Runs `body` in a transaction acting as the app role, so every projection object has one owner
    /// whether the daemon or the owner's CLI builds it.
    ///
    /// A build's batches commit without waiting for their WAL flush (`synchronous_commit = off`):
    /// they are derived data, written to a schema nobody reads until the swap, and a crash can only
    /// lose the last batches whole. `durable: true` (the swap, an attach) waits for the flush as usual.
    static func transaction<R>(
        on connection: PostgresConnection, durable: Bool = false, logger: Logger, _ body: () async throws -> R
    ) async throws -> R {
        try await connection.transaction(logger: logger) {
            try await connection.run(PostgresQuery(unsafeSQL: "SELECT \(Self.settings(durable: durable))"), logger: logger)
            return try await body()
        }
    }
}
