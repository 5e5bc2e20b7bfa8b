import Foundation
public import LedgerCore
public import Logging
public import PostgresNIO
public import LedgerStore
import NIOCore

/// Who is asking: a tenant sees only its own rows. `nil` fields mean no restriction.
public struct ReadScope: Sendable, Hashable {
    public var companyID: String?
    public var universityID: String?

    public init(companyID: String? = nil, universityID: String? = nil) {
        self.companyID = companyID
        self.universityID = universityID
    }

    public static let everything = ReadScope()
}

/// Filters of the placements list.
public struct PlacementFilter: Sendable, Hashable {
    public var companyID: String?
    public var universityID: String?
    public var studentID: String?
    public var status: PlacementStatus?

    public init(companyID: String? = nil, universityID: String? = nil, studentID: String? = nil, status: PlacementStatus? = nil) {
        self.companyID = companyID
        self.universityID = universityID
        self.studentID = studentID
        self.status = status
    }
}

/// A half-open range of business time `[from, to)`; either end may be open.
public struct TimeRange: Sendable, Hashable {
    public var from: Timestamp?
    public var to: Timestamp?

    public init(from: Timestamp? = nil, to: Timestamp? = nil) {
        self.from = from
        self.to = to
    }

    var fromMicros: Int64? { from?.microseconds }
    var toMicros: Int64? { to?.microseconds }
    var json: [String: JSON] { ["from": from.map { .string($0.rfc3339) } ?? .null, "to": to.map { .string($0.rfc3339) } ?? .null] }
}

/// The queries behind the read routes and `placementctl report`, over a set of projection schemas:
/// the live ones, or throwaway ones built for time travel.
public struct ReadModel: Sendable {
    /// Whether every projection's live tables exist: not yet on a ledger's first start while the
    /// daemon builds them, nor on one no daemon or `replay` has served.
    public static func liveTablesExist(on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let sql = ProjectionDefinition.all.map { "EXISTS (SELECT FROM pg_namespace WHERE nspname = '\($0.liveSchema)')" }.joined(separator: " AND ")
        for try await exists in try await connection.run(PostgresQuery(unsafeSQL: "SELECT " + sql), logger: logger).decode(Bool.self) {
            return exists
        }
        return false
    }

    public let logger: Logger
    let schemas: [String: String]
    /// Set for a time-travel build: what the figures reflect.
    public let fixedPosition: LogBound?
    /// Reports read the summary where the schema has one; false makes them sum the rows (tests
    /// compare the two).
    let useSummary: Bool

    public init(logger: Logger) {
        self.init(logger: logger, schemas: Dictionary(uniqueKeysWithValues: ProjectionDefinition.all.map { ($0.name, $0.liveSchema) }))
    }

    init(logger: Logger, schemas: [String: String], fixedPosition: LogBound? = nil, useSummary: Bool = true) {
        self.logger = logger
        self.schemas = schemas
        self.fixedPosition = fixedPosition
        self.useSummary = useSummary
    }

    /// The same reads, with reports summed from the rows.
    public var summingRows: ReadModel { ReadModel(logger: logger, schemas: schemas, fixedPosition: fixedPosition, useSummary: false) }

    var postings: String { schemas["postings"]! }
    var placements: String { schemas["placements"]! }
    var history: String { schemas["history"]! }

    /// Runs `body` in one read-only snapshot and reports the projections' position it reflects.
    /// With `minPosition`, first waits up to `wait` for the projections to reach it (parked on
    /// `watch`, a watch over the same database, as one of `key`'s waits) and throws
    /// `projection_lagging` if they do not.
    public static func read<R: Sendable>(
        _ client: any DatabaseClient, projections: [String], minPosition: Int64?, watch: PositionWatch, key: String,
        wait: Duration = .seconds(5), logger: Logger, _ body: @Sendable (PostgresConnection) async throws -> R
    ) async throws -> (R, Int64) {
        try await retrying(projections: projections, until: minPosition, watch: watch, key: key, wait: wait) {
            try await client.withConnection { connection in
                try await snapshot(on: connection, projections: projections, minPosition: minPosition, logger: logger, body)
            }
        }
    }

    /// The rows of one statement and the position they reflect: the statement selects the
    /// projections' position as its first column, so one statement (one snapshot) answers where a
    /// snapshot transaction takes four (BEGIN, the position, the rows, COMMIT). When no row comes
    /// back nothing carried the position, and the query runs again in a snapshot with it.
    /// `minPosition`, `watch`, `key` and `wait` as in `read`.
    public static func readRows<Row: Sendable>(
        _ client: any DatabaseClient, projections: [String], minPosition: Int64?, watch: PositionWatch, key: String,
        wait: Duration = .seconds(5), logger: Logger, _ query: RowQuery<Row>
    ) async throws -> ([Row], Int64) {
        let reflected = ProjectionRunner.positionColumn(projections)
        return try await retrying(projections: projections, until: minPosition, watch: watch, key: key, wait: wait) {
            try await client.withConnection { connection -> Attempt<[Row]> in
                var rows: [Row] = []
                var position: Int64?
                for try await row in try await connection.run(query.sql(reflected + ", "), logger: logger) {
                    var cells = Cells(row)
                    let reached: Int64 = try cells.next()
                    position = reached
                    rows.append(try query.decode(&cells))
                }
                // No row carried the position, or it is behind: the snapshot path says which
                // (and refuses a position that cannot exist).
                guard let position, position >= (minPosition ?? position) else {
                    return try await snapshot(on: connection, projections: projections, minPosition: minPosition, logger: logger) {
                        try await query.rows(on: $0, logger: logger)
                    }
                }
                return .answer(rows, position)
            }
        }
    }

    /// What one try of a read found: the answer and its position, or the projections still behind.
    enum Attempt<R: Sendable>: Sendable {
        case answer(R, Int64)
        case behind(Int64)
    }

    /// Tries, and while the projections are behind `minPosition` waits on `watch` (holding no
    /// connection: readers waiting for a position must not fill the pool) and tries again, until
    /// `wait` has passed.
    private static func retrying<R: Sendable>(
        projections: [String], until minPosition: Int64?, watch: PositionWatch, key: String, wait: Duration,
        _ attempt: () async throws -> Attempt<R>
    ) async throws -> (R, Int64) {
        let deadline = ContinuousClock.now + wait
        while true {
            switch try await attempt() {
            case .answer(let result, let position): return (result, position)
            case .behind(let position):
                guard let minPosition, ContinuousClock.now < deadline else {
                    throw LedgerError(
                        .projectionLagging, "the projections have reached position \(position), not yet \(minPosition ?? 0); retry shortly")
                }
                try await watch.wait(until: minPosition, projections: projections, key: key, deadline: deadline)
            }
        }
    }

    /// `body` in a read-only snapshot with the position of `projections` it reflects, unless that
    /// is behind `minPosition`.
    private static func snapshot<R: Sendable>(
        on connection: PostgresConnection, projections: [String], minPosition: Int64?, logger: Logger,
        _ body: @Sendable (PostgresConnection) async throws -> R
    ) async throws -> Attempt<R> {
        try await connection.transaction(.snapshot, logger: logger) {
            let (position, ceiling) = try await ProjectionRunner.positionAndCeiling(of: projections, on: connection, logger: logger)
            if let minPosition, position < minPosition {
                // A position no append has been given cannot come from any response: answered at
                // once (the contract's 503 for a position not reached), so a flood of them holds
                // no connection for the wait.
                if let ceiling, minPosition >= ceiling {
                    throw LedgerError(
                        .projectionLagging,
                        "min_position \(minPosition) is beyond every position the ledger has given out (all are below \(ceiling)); use a position from a response")
                }
                return .behind(position)
            }
            return .answer(try await body(connection), position)
        }
    }

    // MARK: Postings

    public func posting(_ id: String, on connection: PostgresConnection) async throws -> JSON? {
        try await postingQuery(id).rows(on: connection, logger: logger).first
    }

    /// Every posting in `posting_id` order (`report postings`).
    public func allPostings(scope: ReadScope, on connection: PostgresConnection) async throws -> [JSON] {
        try await postingRows(where: "($1::text IS NULL OR company_id = $1)", scope.companyID).rows(on: connection, logger: logger)
    }

    /// The posting `id`, as the postings projection has it.
    public func postingQuery(_ id: String) -> RowQuery<JSON> { postingRows(where: "posting_id = $1", id) }

    private func postingRows(where condition: String, _ value: String?) -> RowQuery<JSON> {
        let postings = postings
        return RowQuery(
            sql: { leading in
                var bindings = PostgresBindings()
                bindings.append(value)
                return PostgresQuery(
                    unsafeSQL: """
                        SELECT \(leading)posting_id, company_id, title, status, openings, applicants, selected, withdrawn, stipend, created_at
                        FROM \(postings).postings WHERE \(condition) ORDER BY posting_id
                        """, binds: bindings)
            },
            decode: { cells in
                let (id, company, title, status): (String, String, String, String) = (try cells.next(), try cells.next(), try cells.next(), try cells.next())
                let (openings, applicants, selected, withdrawn): (Int64, Int64, Int64, Int64) = (
                    try cells.next(), try cells.next(), try cells.next(), try cells.next()
                )
                let (stipend, created): (String, Int64) = (try cells.next(), try cells.next())
                return .object([
                    "posting_id": .string(id), "company_id": .string(company), "title": .string(title), "status": .string(status),
                    "openings": .int(openings), "applicants": .int(applicants), "selected": .int(selected),
                    "withdrawn": .int(withdrawn), "stipend": (try? JSONParser.parse(stipend)) ?? .null,
                    "created_at": .string(Timestamp(microseconds: created).rfc3339),
                ])
            })
    }

    // MARK: Placements

    static let placementColumns = PlacementRow.columns.joined(separator: ", ")

    /// One page of placements in (posting_id, student_id) order, after `cursor`.
    public func placements(
        filter: PlacementFilter, scope: ReadScope, limit: Int, after cursor: PlacementCursor?, on connection: PostgresConnection
    ) async throws -> (rows: [PlacementRow], next: PlacementCursor?) {
        Self.page(try await placementsQuery(filter: filter, scope: scope, limit: limit, after: cursor).rows(on: connection, logger: logger), limit: limit)
    }

    /// The rows of a page of placements: `limit` and one more, which tells whether a next page exists (see `page`).
    public func placementsQuery(filter: PlacementFilter, scope: ReadScope, limit: Int, after cursor: PlacementCursor?) -> RowQuery<PlacementRow> {
        let placements = placements
        return RowQuery(
            sql: { leading in
                """
                SELECT \(unescaped: leading)\(unescaped: Self.placementColumns) FROM \(unescaped: placements).placements
                WHERE (\(filter.companyID)::text IS NULL OR company_id = \(filter.companyID))
                  AND (\(filter.universityID)::text IS NULL OR university_id = \(filter.universityID))
                  AND (\(filter.studentID)::text IS NULL OR student_id = \(filter.studentID))
                  AND (\(filter.status?.rawValue)::text IS NULL OR status = \(filter.status?.rawValue))
                  AND (\(scope.companyID)::text IS NULL OR company_id = \(scope.companyID))
                  AND (\(scope.universityID)::text IS NULL OR university_id = \(scope.universityID))
                  AND (\(cursor?.postingID)::text IS NULL OR (posting_id, student_id) > (\(cursor?.postingID), \(cursor?.studentID)))
                ORDER BY posting_id, student_id LIMIT \(limit + 1)
                """
            }, decode: Self.decodePlacement)
    }

    /// A page of at most `limit` from the rows of `placementsQuery`, and the cursor of the next.
    public static func page(_ rows: [PlacementRow], limit: Int) -> (rows: [PlacementRow], next: PlacementCursor?) {
        guard rows.count > limit else { return (rows, nil) }
        let page = Array(rows.prefix(limit))
        return (page, page.last.map { PlacementCursor(postingID: $0.postingID, studentID: $0.studentID) })
    }

    public func placement(postingID: String, studentID: String, scope: ReadScope, on connection: PostgresConnection) async throws
        -> PlacementRow?
    {
        try await placementQuery(postingID: postingID, studentID: studentID, scope: scope).rows(on: connection, logger: logger).first
    }

    /// One placement, if `scope` may see it.
    public func placementQuery(postingID: String, studentID: String, scope: ReadScope) -> RowQuery<PlacementRow> {
        let placements = placements
        return RowQuery(
            sql: { leading in
                """
                SELECT \(unescaped: leading)\(unescaped: Self.placementColumns) FROM \(unescaped: placements).placements
                WHERE posting_id = \(postingID) AND student_id = \(studentID)
                  AND (\(scope.companyID)::text IS NULL OR company_id = \(scope.companyID))
                  AND (\(scope.universityID)::text IS NULL OR university_id = \(scope.universityID))
                """
            }, decode: Self.decodePlacement)
    }

    /// A placement from its cells, in `PlacementRow.columns` order.
    private static func decodePlacement(_ cells: inout Cells) throws -> PlacementRow {
        func time(_ micros: Int64?) -> Timestamp? { micros.map(Timestamp.init(microseconds:)) }
        let (p, s, c, u, t): (String, String, String, String, String) = (try cells.next(), try cells.next(), try cells.next(), try cells.next(), try cells.next())
        let (status, settled, kind, currency): (String, Bool, String, String) = (try cells.next(), try cells.next(), try cells.next(), try cells.next())
        let (minutes, cap, earned, paid, balance): (Int64, Int64, Int64, Int64, Int64) = (
            try cells.next(), try cells.next(), try cells.next(), try cells.next(), try cells.next()
        )
        let rating: Int64? = try cells.next()
        let selected: Int64 = try cells.next()
        let (delivered, reviewed, lastPaid): (Int64?, Int64?, Int64?) = (try cells.next(), try cells.next(), try cells.next())
        return PlacementRow(
            postingID: p, studentID: s, companyID: c, universityID: u, title: t,
            status: PlacementStatus(rawValue: status) ?? .inProgress, settled: settled, stipendKind: kind, currency: currency,
            minutesLogged: minutes, capMinor: cap, earnedMinor: earned, paidMinor: paid, balanceMinor: balance, rating: rating,
            selectedAt: Timestamp(microseconds: selected), deliveredAt: time(delivered), reviewedAt: time(reviewed), lastPaidAt: time(lastPaid))
    }

    // MARK: Reports

    /// Universities with any application, in order (`report universities`).
    public func universities(scope: ReadScope, on connection: PostgresConnection) async throws -> [String] {
        var ids: [String] = []
        for try await id in try await connection.run(
            """
            SELECT DISTINCT university_id FROM \(unescaped: placements).applications
            WHERE \(scope.universityID)::text IS NULL OR university_id = \(scope.universityID) ORDER BY university_id
            """, logger: logger
        ).decode(String.self) { ids.append(id) }
        return ids
    }

    /// Companies with any posting, in order (`report stipends`).
    public func companies(scope: ReadScope, on connection: PostgresConnection) async throws -> [String] {
        var ids: [String] = []
        for try await id in try await connection.run(
            """
            SELECT DISTINCT company_id FROM \(unescaped: postings).postings
            WHERE \(scope.companyID)::text IS NULL OR company_id = \(scope.companyID) ORDER BY company_id
            """, logger: logger
        ).decode(String.self) { ids.append(id) }
        return ids
    }

    /// The university dashboard figures: applications whose `applied` and placements whose
    /// `selected` occurred in the range. Whole months come from the summary the placements
    /// projection keeps (`ReportSummary`), the partial months at the range's ends from the rows.
    public func universityReport(_ universityID: String, range: TimeRange, on connection: PostgresConnection) async throws -> JSON {
        var parts: [(ReportKey, ReportFigures)] = []
        if try await hasSummary(on: connection) {
            let split = MonthSplit(from: range.fromMicros, to: range.toMicros)
            if let months = split.whole {
                parts += try await summaryParts(
                    """
                    university_id = \(universityID) AND (\(months.from)::text IS NULL OR month >= \(months.from))
                      AND (\(months.to)::text IS NULL OR month < \(months.to))
                    """, on: connection)
            }
            for edge in split.edges {
                parts += try await rowParts(universityID, from: edge.from, to: edge.to, on: connection)
            }
        } else {
            parts = try await rowParts(universityID, from: range.fromMicros, to: range.toMicros, on: connection)
        }
        var members = range.json
        members.merge(ReportSummary.universityFigures(parts)) { $1 }
        members["university_id"] = .string(universityID)
        return .object(members)
    }

    /// A company's reconciliation: money per currency and the placements with a balance.
    public func companyStipends(_ companyID: String, on connection: PostgresConnection) async throws -> JSON {
        var parts: [(ReportKey, ReportFigures)] = []
        if try await hasSummary(on: connection) {
            parts = try await summaryParts("company_id = \(companyID)", on: connection)
        } else {
            let zero = ReportFigures.columns.map { _ in "0" }
            func figures(_ set: [String: String]) -> String {
                "ARRAY[" + ReportFigures.columns.enumerated().map { set[$0.element] ?? zero[$0.offset] }.joined(separator: ", ") + "]::int8[]"
            }
            let placed = figures([
                "placed": "count(*)", "cap_minor": "sum(cap_minor)", "earned_minor": "sum(earned_minor)", "paid_minor": "sum(paid_minor)",
                "balance_minor": "sum(balance_minor)",
            ])
            let paid = figures(["payments": "count(*)", "reversals": "count(*) FILTER (WHERE reversed)"])
            parts = try await figureRows(
                """
                SELECT '', company_id, currency, '', \(unescaped: placed) FROM \(unescaped: placements).placements
                WHERE company_id = \(companyID) GROUP BY company_id, currency
                UNION ALL
                SELECT '', company_id, currency, '', \(unescaped: paid) FROM \(unescaped: placements).payments
                WHERE company_id = \(companyID) GROUP BY company_id, currency
                """, on: connection)
        }
        let open = try await openBalances(
            """
            SELECT string_agg(\(unescaped: OpenBalances.lineSQL), E'\\n' ORDER BY selected_at, posting_id, student_id)
            FROM \(unescaped: placements).placements WHERE company_id = \(companyID) AND balance_minor <> 0
            """, on: connection)
        return .object([
            "company_id": .string(companyID), "by_currency": .array(ReportSummary.stipendFigures(parts)), "open_balances": .canonical(open),
        ])
    }

    /// The open balances `query` joins into one text (`OpenBalances.lineSQL` lines in order) as a
    /// canonical JSON array. A company has thousands at a million events: as one text, written
    /// straight into canonical bytes, they cost a scan (see `OpenBalances`).
    func openBalances(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [UInt8] {
        var lines: ByteBuffer?
        for try await row in try await connection.run(query, logger: logger) {
            var cells = Cells(row)
            lines = try cells.cell().bytes
        }
        var open: [UInt8] = []
        open.reserveCapacity((lines?.readableBytes ?? 0) * 2 + 2)
        try (lines ?? ByteBuffer()).withUnsafeReadableBytes { try OpenBalances.write(lines: $0, into: &open) }
        return open
    }

    /// Whether the placements schema keeps the report summary. The live schema of an older
    /// version (serving while its successor is rebuilt) does not; its reports sum the rows.
    private func hasSummary(on connection: PostgresConnection) async throws -> Bool {
        guard useSummary else { return false }
        let table = "\(placements).report_months"
        for try await exists in try await connection.run("SELECT to_regclass(\(table)) IS NOT NULL", logger: logger).decode(Bool.self) {
            return exists
        }
        return false
    }

    /// Every row of the applications table (`verify --deep`).
    func allApplications(on connection: PostgresConnection) async throws -> [ApplicationRow] {
        var rows: [ApplicationRow] = []
        for try await (posting, student, university, company, appliedAt) in try await connection.run(
            PostgresQuery(unsafeSQL: "SELECT posting_id, student_id, university_id, company_id, applied_at FROM \(placements).applications"),
            logger: logger
        ).decode((String, String, String, String, Int64).self) {
            rows.append(
                ApplicationRow(
                    postingID: posting, studentID: student, universityID: university, companyID: company,
                    appliedAt: Timestamp(microseconds: appliedAt)))
        }
        return rows
    }

    /// Every row of the report summary (`verify --deep`).
    func allSummaryRows(on connection: PostgresConnection) async throws -> [(ReportKey, ReportFigures)] {
        try await summaryParts("true", on: connection)
    }

    /// Summary rows matching `condition` (a condition on the summary's columns).
    private func summaryParts(_ condition: PostgresQuery, on connection: PostgresConnection) async throws -> [(ReportKey, ReportFigures)] {
        let columns = ReportFigures.columns.joined(separator: ", ")
        var query = PostgresQuery(
            unsafeSQL: "SELECT university_id, company_id, currency, month, ARRAY[\(columns)]::int8[] FROM \(placements).report_months WHERE ")
        query.sql += condition.sql
        query.binds = condition.binds
        return try await figureRows(query, on: connection)
    }

    /// A university's applications and placements of `[from, to)` (nil = open), summed from the rows.
    private func rowParts(_ universityID: String, from: Int64?, to: Int64?, on connection: PostgresConnection) async throws
        -> [(ReportKey, ReportFigures)]
    {
        let placed = """
            ARRAY[0, count(*), count(*) FILTER (WHERE status = 'accepted'), count(*) FILTER (WHERE status = 'withdrawn'),
                sum(minutes_logged), COALESCE(sum(rating), 0), count(rating), sum(cap_minor), sum(earned_minor), sum(paid_minor),
                sum(balance_minor), 0, 0]::int8[]
            """
        let applied = "ARRAY[count(*), " + Array(repeating: "0", count: ReportFigures.columns.count - 1).joined(separator: ", ") + "]::int8[]"
        return try await figureRows(
            """
            SELECT university_id, company_id, currency, selected_month, \(unescaped: placed) FROM \(unescaped: placements).placements
            WHERE university_id = \(universityID) AND (\(from)::int8 IS NULL OR selected_at >= \(from))
              AND (\(to)::int8 IS NULL OR selected_at < \(to))
            GROUP BY university_id, company_id, currency, selected_month
            UNION ALL
            SELECT \(universityID), '', '', '', \(unescaped: applied) FROM \(unescaped: placements).applications
            WHERE university_id = \(universityID) AND (\(from)::int8 IS NULL OR applied_at >= \(from))
              AND (\(to)::int8 IS NULL OR applied_at < \(to))
            """, on: connection)
    }

    /// Rows of (university, company, currency, month, figures in `ReportFigures.columns` order as
    /// an int8 array). The array comes as text: PostgresNIO's generic array decoding cost more than
    /// the rest of the row.
    func figureRows(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [(ReportKey, ReportFigures)] {
        var wrapped = query
        wrapped.sql = "SELECT f.u, f.c, f.cur, f.m, array_to_string(f.figures, ' ') FROM (\(query.sql)) AS f(u, c, cur, m, figures)"
        var parts: [(ReportKey, ReportFigures)] = []
        for try await row in try await connection.run(wrapped, logger: logger) {
            var cells = Cells(row)
            let key = ReportKey(universityID: try cells.next(), companyID: try cells.next(), currency: try cells.next(), month: try cells.next())
            let text: String = try cells.next()
            guard let figures = ReportFigures(text: text) else { throw FiguresMalformed(text: text) }
            parts.append((key, figures))
        }
        return parts
    }

    struct FiguresMalformed: Error, CustomStringConvertible {
        var text: String
        var description: String { "report figures \(text) are not \(ReportFigures.columns.count) integers" }
    }

    public static let stipendCSVColumns = [
        "currency", "placements", "cap_minor", "earned_minor", "paid_minor", "balance_minor", "payments", "reversals",
    ]

    /// Payout line items (one per `paid` event in the range) and totals per currency.
    public func payouts(
        range: TimeRange, companyID: String?, universityID: String?, scope: ReadScope, on connection: PostgresConnection
    ) async throws -> (items: [PaymentRow], json: JSON) {
        let from = range.fromMicros, to = range.toMicros
        let rows = try await connection.run(
            """
            SELECT posting_id, student_id, university_id, company_id, payment_ref, amount_minor, currency, occurred_at, reversed
            FROM \(unescaped: placements).payments
            WHERE (\(from)::int8 IS NULL OR occurred_at >= \(from)) AND (\(to)::int8 IS NULL OR occurred_at < \(to))
              AND (\(companyID)::text IS NULL OR company_id = \(companyID))
              AND (\(universityID)::text IS NULL OR university_id = \(universityID))
              AND (\(scope.companyID)::text IS NULL OR company_id = \(scope.companyID))
              AND (\(scope.universityID)::text IS NULL OR university_id = \(scope.universityID))
            ORDER BY occurred_at, payment_ref, company_id
            """, logger: logger)
        let items = try await Self.paymentRows(rows)
        return (items, Self.payoutsJSON(items, range: range))
    }

    /// Rows of (posting, student, university, company, payment_ref, amount, currency, occurred_at,
    /// reversed) as payment rows.
    static func paymentRows(_ rows: PostgresRowSequence) async throws -> [PaymentRow] {
        var items: [PaymentRow] = []
        for try await (p, s, u, c, ref, amount, currency, occurred, reversed) in rows.decode(
            (String, String, String, String, String, Int64, String, Int64, Bool).self)
        {
            items.append(
                PaymentRow(
                    postingID: p, studentID: s, universityID: u, companyID: c, paymentRef: ref, amountMinor: amount, currency: currency,
                    occurredAt: Timestamp(microseconds: occurred), reversed: reversed))
        }
        return items
    }

    /// The payouts report of `items`: the items and their totals per currency.
    static func payoutsJSON(_ items: [PaymentRow], range: TimeRange) -> JSON {
        var totals: [String: (payments: Int64, paid: Int64, reversed: Int64)] = [:]
        for item in items {
            var t = totals[item.currency] ?? (0, 0, 0)
            t.payments += 1
            t.paid += item.amountMinor
            if item.reversed { t.reversed += item.amountMinor }
            totals[item.currency] = t
        }
        var members = range.json
        members["items"] = .array(items.map(\.json))
        members["totals"] = .array(
            totals.keys.sorted().map { currency in
                let t = totals[currency]!
                return .object([
                    "currency": .string(currency), "payments": .int(t.payments), "paid_minor": .int(t.paid),
                    "reversed_minor": .int(t.reversed), "net_minor": .int(t.paid - t.reversed),
                ])
            })
        return .object(members)
    }
}

/// A query of rows whose SELECT list other columns can lead (the position of `ReadModel.readRows`),
/// and how to decode a row's own cells.
public struct RowQuery<Row: Sendable>: Sendable {
    /// The query, its SELECT list led by `leading` (empty, or columns each followed by ", ").
    let sql: @Sendable (_ leading: String) -> PostgresQuery
    let decode: @Sendable (inout Cells) throws -> Row

    /// The rows, in the query's order.
    func rows(on connection: PostgresConnection, logger: Logger) async throws -> [Row] {
        var rows: [Row] = []
        for try await row in try await connection.run(sql(""), logger: logger) {
            var cells = Cells(row)
            rows.append(try decode(&cells))
        }
        return rows
    }
}

/// The opaque cursor of the placements list: where the last page ended.
public struct PlacementCursor: Sendable, Hashable {
    public var postingID: String
    public var studentID: String

    public init(postingID: String, studentID: String) {
        self.postingID = postingID
        self.studentID = studentID
    }

    /// base64url of the canonical JSON `[posting_id, student_id]`.
    public var token: String {
        let bytes = JSON.array([.string(postingID), .string(studentID)]).canonicalBytes
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public init?(token: String) {
        var text = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text), case .array(let parts)? = try? JSONParser.parse([UInt8](data)),
            parts.count == 2, case .string(let posting) = parts[0], case .string(let student) = parts[1],
            Identifier.isValid(posting), Identifier.isValid(student)
        else { return nil }
        postingID = posting
        studentID = student
    }
}

/// CSV with RFC 4180 quoting.
public enum CSV {
    /// One cell. Text a tenant wrote (titles, notes, references) is made safe for spreadsheets and
    /// terminals: control characters become spaces, and a cell that would start with = + - or @
    /// gets a leading apostrophe, so a spreadsheet shows it as text instead of running it as a
    /// formula. Numbers stay as they are (a negative amount is a number, not text).
    public static func field(_ value: JSON) -> String {
        let text = safe(value)
        if text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return text
    }

    /// A value as text, unquoted, made safe as `field` describes (for CSV cells and terminal tables).
    public static func safe(_ value: JSON) -> String {
        var text = plain(value)
        if case .string = value {
            text = printable(text)
            if let first = text.unicodeScalars.first, "=+-@".unicodeScalars.contains(first) { text = "'" + text }
        }
        return text
    }

    /// A value as text, unquoted.
    public static func plain(_ value: JSON) -> String {
        let text: String
        switch value {
        case .null: text = ""
        case .bool(let b): text = b ? "true" : "false"
        case .int(let n): text = String(n)
        case .string(let s): text = s
        case .decimal(let units, let scale): text = JSON.decimalText(units: units, scale: scale)
        case .array, .object, .canonical: text = value.canonicalString
        }
        return text
    }

    /// `text` with every control character (C0, DEL, C1: line breaks, tabs, terminal escape
    /// sequences) replaced by a space.
    public static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { isControl($0) ? " " : $0 }))
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// A header row and one row per object, taking `columns` in order.
    public static func table(columns: [String], rows: [JSON]) -> String {
        var out = columns.joined(separator: ",") + "\r\n"
        for row in rows {
            out += columns.map { field(row[$0] ?? .null) }.joined(separator: ",") + "\r\n"
        }
        return out
    }
}
