public import LedgerCore
public import LedgerStore
public import PostgresNIO

/// The company statement, the aging, and every report `as_of` a recorded time: read from the
/// `history` projection, what each event changed with the time it was recorded (`LedgerHistory`),
/// not from today's rows. A report as of T sums the changes recorded at or before T, so it is what
/// the ledger said then, whatever the business time of what came later.
///
/// Today's rows serve only the aging now, to find the placements that owe: everything else sums
/// rows of the history in PostgreSQL, and reads lines only of the period asked or of the
/// placements that owe.
extension ReadModel {
    /// The condition on a `history` row's recorded time (none without `asOf`).
    private func recorded(_ column: String, asOf: Timestamp?) -> String {
        asOf.map { "AND \(column) <= \($0.microseconds)" } ?? ""
    }

    /// The currencies of the company's placements as of `asOf` (those its stipends report lists).
    private func currenciesSQL(_ companyID: String, asOf: Timestamp?) -> (String, PostgresBindings) {
        var binds = PostgresBindings()
        binds.append(companyID)
        if let asOf {
            return (
                """
                SELECT string_agg(currency, ' ' ORDER BY currency) FROM (
                    SELECT currency FROM \(history).report_changes WHERE company_id = $1 AND recorded_at <= \(asOf.microseconds)
                    GROUP BY currency HAVING sum(placed) > 0) c
                """, binds
            )
        }
        return (
            """
            SELECT string_agg(currency, ' ' ORDER BY currency) FROM (
                SELECT currency FROM \(placements).report_months WHERE company_id = $1 GROUP BY currency HAVING sum(placed) > 0) c
            """, binds
        )
    }

    /// The company's statement of `range` (by occurred_at) as of `asOf`: the period's lines, the
    /// opening balances summed in the database.
    public func companyStatement(_ companyID: String, range: TimeRange, asOf: Timestamp?, on connection: PostgresConnection) async throws
        -> CompanyStatement
    {
        let (currencies, binds) = currenciesSQL(companyID, asOf: asOf)
        var period = ""
        if let from = range.fromMicros { period += " AND occurred_at >= \(from)" }
        if let to = range.toMicros { period += " AND occurred_at < \(to)" }
        let openings =
            range.fromMicros.map { from in
                """
                SELECT string_agg(currency || ' ' || opening, ' ') FROM (
                    SELECT currency, sum(\(StatementLine.balanceEffectSQL())) AS opening
                    FROM \(history).lines WHERE company_id = $1 AND occurred_at < \(from) \(recorded("recorded_at", asOf: asOf))
                    GROUP BY currency) o
                """
            } ?? "SELECT NULL::text"
        let query = PostgresQuery(
            unsafeSQL: """
                SELECT (\(currencies)), (\(openings)),
                    (SELECT string_agg(\(StatementLine.textSQL), E'\\n' ORDER BY occurred_at, position, kind)
                     FROM \(history).lines WHERE company_id = $1 \(period) \(recorded("recorded_at", asOf: asOf)))
                """, binds: binds)
        let (currencyText, openingText, linesText) = try await texts(query, on: connection)
        var opening: [String: Int64] = [:]
        let fields = openingText.split(separator: " ")
        for i in stride(from: 0, to: fields.count, by: 2) {
            guard i + 1 < fields.count, let sum = Int64(fields[i + 1]) else { throw OpeningsMalformed(text: openingText) }
            opening[String(fields[i])] = sum
        }
        let company = CompanyLines(
            companyID: companyID, asOf: asOf, currencies: currencyText.split(separator: " ").map(String.init),
            lines: try StatementLine.parse(text: linesText))
        return CompanyStatement(company, from: range.from, to: range.to, openings: opening)
    }

    /// The company's aging at `at` (nil: the database's clock now) as of `asOf`, from the lines
    /// of the placements that owe then.
    public func companyAging(_ companyID: String, at: Timestamp?, asOf: Timestamp?, on connection: PostgresConnection) async throws
        -> CompanyAging
    {
        let time: Timestamp
        if let at { time = at } else { time = try await EventStore.databaseNow(on: connection, logger: logger) }
        let (currencies, binds) = currenciesSQL(companyID, asOf: asOf)
        let counted = "l.occurred_at < \(time.microseconds) \(recorded("l.recorded_at", asOf: asOf))"
        // Which placements can owe. Now: those with a balance in today's rows, and those with a
        // line dated after now (a placement with neither has every line counted, adding up to its
        // balance: zero or less). At another time: those whose lines counted add up to more than
        // zero, summed over the company's lines.
        let owing =
            at == nil && asOf == nil
            ? """
            SELECT posting_id, student_id FROM \(placements).placements WHERE company_id = $1 AND balance_minor > 0
            UNION SELECT posting_id, student_id FROM \(history).lines WHERE company_id = $1 AND occurred_at >= \(time.microseconds)
            """
            : """
            SELECT l.posting_id, l.student_id FROM \(history).lines l WHERE l.company_id = $1 AND \(counted)
            GROUP BY l.posting_id, l.student_id HAVING sum(\(StatementLine.balanceEffectSQL("l."))) > 0
            """
        let query = PostgresQuery(
            unsafeSQL: """
                WITH owing AS (\(owing))
                SELECT (\(currencies)), NULL::text,
                    (SELECT string_agg(\(StatementLine.agingTextSQL), E'\\n' ORDER BY occurred_at, position, kind) FROM (
                        SELECT l.* FROM owing o CROSS JOIN LATERAL (
                            -- A probe per placement: a join would read every line of the company.
                            SELECT l.currency, l.kind, l.occurred_at, l.position, l.amount_minor, l.posting_id, l.student_id
                            FROM \(history).lines l
                            WHERE l.company_id = $1 AND l.posting_id = o.posting_id AND l.student_id = o.student_id AND \(counted)
                            OFFSET 0) l) x)
                """, binds: binds)
        let (currencyText, _, linesText) = try await texts(query, on: connection)
        let company = CompanyLines(
            companyID: companyID, asOf: asOf, currencies: currencyText.split(separator: " ").map(String.init),
            lines: try StatementLine.parse(text: linesText))
        return CompanyAging(company, at: time)
    }

    struct OpeningsMalformed: Error, CustomStringConvertible {
        var text: String
        var description: String { "opening balances are not pairs of a currency and an integer: \(text.prefix(200))" }
    }

    /// Three texts of one row (NULL: empty).
    private func texts(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> (String, String, String) {
        for try await (a, b, c) in try await connection.run(query, logger: logger).decode((String?, String?, String?).self) {
            return (a ?? "", b ?? "", c ?? "")
        }
        return ("", "", "")
    }

    public func universityReport(_ universityID: String, range: TimeRange, asOf: Timestamp, on connection: PostgresConnection) async throws -> JSON {
        var parts: [(ReportKey, ReportFigures)] = []
        let split = MonthSplit(from: range.fromMicros, to: range.toMicros)
        if let months = split.whole {
            var condition = "university_id = $1"
            var binds = PostgresBindings()
            binds.append(universityID)
            if let from = months.from {
                binds.append(from)
                condition += " AND month >= $\(binds.count)"
            }
            if let to = months.to {
                binds.append(to)
                condition += " AND month < $\(binds.count)"
            }
            parts += try await changedFigures(condition, binds: binds, asOf: asOf, on: connection)
        }
        // The part months at the ends of the range: the figures of an application or a placement
        // in them are folded from its posting's events recorded by then.
        for edge in split.edges {
            let postings = try await postingIDs(
                """
                SELECT posting_id FROM \(unescaped: placements).applications
                WHERE university_id = \(universityID) AND applied_at >= \(edge.from) AND applied_at < \(edge.to)
                UNION
                SELECT posting_id FROM \(unescaped: placements).placements
                WHERE university_id = \(universityID) AND selected_at >= \(edge.from) AND selected_at < \(edge.to)
                """, on: connection)
            let ledger = HistoricLedger(events: try await EventStore.events(ofPostings: postings, asOf: asOf, on: connection, logger: logger))
            parts += ledger.universityParts(universityID, from: Timestamp(microseconds: edge.from), to: Timestamp(microseconds: edge.to))
        }
        var members = range.json
        members.merge(ReportSummary.universityFigures(parts)) { $1 }
        members["university_id"] = .string(universityID)
        members["as_of"] = .string(asOf.rfc3339)
        return .object(members)
    }

    public func companyStipends(_ companyID: String, asOf: Timestamp, on connection: PostgresConnection) async throws -> JSON {
        var binds = PostgresBindings()
        binds.append(companyID)
        let parts = try await changedFigures("company_id = $1", binds: binds, asOf: asOf, on: connection)
        // Every line of the company recorded by then, summed per placement in the database.
        let balances = PostgresQuery(
            unsafeSQL: """
                SELECT string_agg(\(OpenBalances.lineSQL), E'\\n' ORDER BY selected_at, posting_id, student_id) FROM (
                    SELECT posting_id, student_id, min(currency) AS currency, max(selected_at) AS selected_at,
                        COALESCE(sum(amount_minor) FILTER (WHERE kind = 'earned'), 0) AS earned_minor,
                        COALESCE(sum(CASE kind WHEN 'paid' THEN amount_minor WHEN 'reversed' THEN -amount_minor END), 0) AS paid_minor,
                        sum(\(StatementLine.balanceEffectSQL())) AS balance_minor
                    FROM \(history).lines WHERE company_id = $1 AND recorded_at <= \(asOf.microseconds)
                    GROUP BY posting_id, student_id) s
                WHERE balance_minor <> 0
                """, binds: binds)
        let open = try await openBalances(balances, on: connection)
        return .object([
            "company_id": .string(companyID), "by_currency": .array(ReportSummary.stipendFigures(parts)), "open_balances": .canonical(open),
            "as_of": .string(asOf.rfc3339),
        ])
    }

    /// The report summary's figures as of `asOf`: the changes recorded by then, summed per key, for
    /// the keys `condition` (on `report_changes`' columns, parameters from $1 in `binds`) selects.
    private func changedFigures(_ condition: String, binds: PostgresBindings, asOf: Timestamp, on connection: PostgresConnection) async throws
        -> [(ReportKey, ReportFigures)]
    {
        let sums = ReportFigures.columns.map { "sum(\($0))" }.joined(separator: ", ")
        return try await figureRows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT university_id, company_id, currency, month, ARRAY[\(sums)]::int8[] FROM \(history).report_changes
                    WHERE \(condition) AND recorded_at <= \(asOf.microseconds)
                    GROUP BY university_id, company_id, currency, month
                    """, binds: binds), on: connection)
    }

    /// The payments of `range` as of `asOf`: `paid` lines recorded by then, each reversed if a
    /// `reversed` line of its reference was.
    public func payouts(
        range: TimeRange, companyID: String?, universityID: String?, scope: ReadScope, asOf: Timestamp, on connection: PostgresConnection
    ) async throws -> (items: [PaymentRow], json: JSON) {
        var condition = "p.kind = 'paid' AND p.recorded_at <= \(asOf.microseconds)"
        var binds = PostgresBindings()
        if let from = range.fromMicros { condition += " AND p.occurred_at >= \(from)" }
        if let to = range.toMicros { condition += " AND p.occurred_at < \(to)" }
        for (column, value) in [("company_id", companyID), ("company_id", scope.companyID), ("university_id", universityID), ("university_id", scope.universityID)] {
            guard let value else { continue }
            binds.append(value)
            condition += " AND p.\(column) = $\(binds.count)"
        }
        let rows = try await connection.run(
            PostgresQuery(
                unsafeSQL: """
                    SELECT p.posting_id, p.student_id, p.university_id, p.company_id, p.payment_ref, p.amount_minor, p.currency, p.occurred_at,
                        EXISTS (SELECT FROM \(history).lines r WHERE r.company_id = p.company_id AND r.payment_ref = p.payment_ref
                                AND r.kind = 'reversed' AND r.recorded_at <= \(asOf.microseconds))
                    FROM \(history).lines p WHERE \(condition)
                    ORDER BY p.occurred_at, p.payment_ref, p.company_id
                    """, binds: binds), logger: logger)
        let items = try await Self.paymentRows(rows)
        guard case .object(var members) = Self.payoutsJSON(items, range: range) else { return (items, .null) }
        members["as_of"] = .string(asOf.rfc3339)
        return (items, .object(members))
    }

    /// Every line of the history read model (`verify --deep`).
    func allHistoryLines(on connection: PostgresConnection) async throws -> [LedgerHistory.Line] {
        var lines: [LedgerHistory.Line] = []
        let rows = try await connection.run(
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(StatementLine.textSQL), company_id, university_id, recorded_at, selected_at FROM \(history).lines ORDER BY position, kind
                    """), logger: logger)
        for try await (text, company, university, recorded, selected) in rows.decode((String, String, String, Int64, Int64).self) {
            for line in try StatementLine.parse(text: text) {
                lines.append(
                    LedgerHistory.Line(
                        line: line, companyID: company, universityID: university, recordedAt: Timestamp(microseconds: recorded),
                        selectedAt: Timestamp(microseconds: selected)))
            }
        }
        return lines
    }

    /// The report figures' changes of the history read model, summed per key and recorded time, the
    /// zero sums left out (`verify --deep`).
    func allReportChanges(on connection: PostgresConnection) async throws -> [(LedgerHistory.DeltaKey, ReportFigures)] {
        let sums = ReportFigures.columns.map { "sum(\($0))" }.joined(separator: ", ")
        var byTime: [(LedgerHistory.DeltaKey, ReportFigures)] = []
        // The recorded time rides in the month column, so that `figureRows` reads the rows.
        for (key, figures) in try await figureRows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT university_id, company_id, currency, month || ' ' || recorded_at, ARRAY[\(sums)]::int8[]
                    FROM \(history).report_changes GROUP BY university_id, company_id, currency, month, recorded_at
                    """), on: connection)
        where !figures.isZero {
            let parts = key.month.split(separator: " ")
            guard parts.count == 2, let recorded = Int64(parts[1]) else { continue }
            var k = key
            k.month = String(parts[0])
            byTime.append((LedgerHistory.DeltaKey(key: k, recordedAt: Timestamp(microseconds: recorded)), figures))
        }
        return byTime
    }

    private func postingIDs(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [String] {
        var ids: [String] = []
        for try await id in try await connection.run(query, logger: logger).decode(String.self) { ids.append(id) }
        return ids
    }
}
