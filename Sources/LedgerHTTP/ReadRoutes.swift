import Foundation
public import Hummingbird
import HummingbirdCore
public import LedgerCore
public import LedgerStore
public import LedgerProjections
import Logging
import PostgresNIO

/// The routes served from projections: every one accepts `min_position` (waits up to 5 s for the
/// projections to reach it, then 503 `projection_lagging`) and answers with `X-Ledger-Position`,
/// the position its data reflects. Tenants see only their own rows: out-of-scope single resources
/// answer 404, lists omit them.
extension LedgerAPI {
    func addReadRoutes(to v1: RouterGroup<LedgerRequestContext>) {
        v1.get("postings/:posting_id") { request, context in try await self.posting(request, context) }
        v1.get("placements") { request, context in try await self.placements(request, context) }
        v1.get("placements/:posting_id/:student_id") { request, context in try await self.placement(request, context) }
        v1.get("placements/:posting_id/:student_id/proof") { request, context in try await self.placementProof(request, context) }
        v1.get("reports/universities/:university_id") { request, context in try await self.universityReport(request, context) }
        v1.get("reports/companies/:company_id/stipends") { request, context in try await self.companyStipends(request, context) }
        v1.get("reports/payouts") { request, context in try await self.payouts(request, context) }
        addCompanyReportRoutes(to: v1)
        v1.get("projections") { request, context in try await self.projectionStatus(request, context) }
    }

    /// Reads in one snapshot after waiting for `min_position`.
    func read<R: Sendable>(
        _ request: Request, _ context: LedgerRequestContext, projections: [String],
        _ body: @escaping @Sendable (ReadModel, PostgresConnection) async throws -> R
    ) async throws -> (R, Int64) {
        let logger = store.logger
        return try await reading(request, context) { reads, key, minPosition in
            try await ReadModel.read(reads.client, projections: projections, minPosition: minPosition, watch: reads, key: key, logger: logger) {
                try await body(ReadModel(logger: logger), $0)
            }
        }
    }

    /// Reads the rows of one statement after waiting for `min_position` (see `ReadModel.readRows`).
    func readRows<Row: Sendable>(
        _ request: Request, _ context: LedgerRequestContext, projections: [String], _ query: @escaping @Sendable (ReadModel) -> RowQuery<Row>
    ) async throws -> ([Row], Int64) {
        let logger = store.logger
        return try await reading(request, context) { reads, key, minPosition in
            try await ReadModel.readRows(
                reads.client, projections: projections, minPosition: minPosition, watch: reads, key: key, logger: logger, query(ReadModel(logger: logger)))
        }
    }

    /// `attempt` on the reads' pool (or replica) with the request's `min_position` and the
    /// caller's key (whose concurrent waits are capped), under the database deadline.
    private func reading<R: Sendable>(
        _ request: Request, _ context: LedgerRequestContext, _ attempt: @escaping @Sendable (PositionWatch, String, Int64?) async throws -> (R, Int64)
    ) async throws -> (R, Int64) {
        let minPosition = try request.uri.queryParameters.optionalInteger("min_position", range: 0...Int64.max)
        let key = try context.caller.keyID
        let logger = store.logger
        let (reads, onReplica) = (reads, readsOnReplica)
        return try await metrics.databaseCall {
            try await withDeadline(databaseDeadline + .seconds(5)) {
                var attempts = 0
                while true {
                    do {
                        return try await attempt(reads, key, minPosition)
                    } catch where onReplica && attempts < 2 && DatabaseFailure.isRecoveryConflict(error) {
                        // A standby cancels a query that conflicts with the WAL it replays (a rebuild's
                        // schema swap on the primary, vacuum): the next snapshot sees the new state.
                        attempts += 1
                        logger.debug("replica read cancelled by recovery; retrying", metadata: ["ledger.error": "\(describe(error))"])
                    }
                }
            }
        }
    }

    static func scope(of caller: Principal) -> ReadScope {
        switch caller.role {
        case .company: ReadScope(companyID: caller.orgID ?? "")
        case .university: ReadScope(universityID: caller.orgID ?? "")
        case .platform, .admin: .everything
        }
    }

    func posting(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        _ = try context.caller
        let id = try context.parameters.pathIdentifier("posting_id")
        let (rows, position) = try await readRows(request, context, projections: ["postings"]) { $0.postingQuery(id) }
        guard let row = rows.first else { throw LedgerError(.notFound, "no posting \(id)") }
        return Reply.json(.ok, .object(["posting": row]), position: position)
    }

    func placements(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let caller = try context.caller
        let query = request.uri.queryParameters
        var filter = PlacementFilter()
        filter.companyID = try query.identifier("company_id")
        filter.universityID = try query.identifier("university_id")
        filter.studentID = try query.identifier("student_id")
        if let status = query["status"] {
            guard let value = PlacementStatus(rawValue: String(status)) else {
                throw LedgerError(
                    .invalidField, "status must be one of \(PlacementStatus.allCases.map(\.rawValue).joined(separator: ", "))",
                    field: "status")
            }
            filter.status = value
        }
        let limit = Int(try query.integer("limit", default: 100, range: 1...1000))
        var cursor: PlacementCursor?
        if let token = query["cursor"] {
            guard let parsed = PlacementCursor(token: String(token)) else {
                throw LedgerError(.invalidField, "cursor is not one this API returned; start again without it", field: "cursor")
            }
            cursor = parsed
        }
        let scope = Self.scope(of: caller)
        let (f, c) = (filter, cursor)
        let (found, position) = try await readRows(request, context, projections: ["placements"]) {
            $0.placementsQuery(filter: f, scope: scope, limit: limit, after: c)
        }
        let (rows, next) = ReadModel.page(found, limit: limit)
        return Reply.json(
            .ok, .object(["placements": PlacementRow.jsonArray(rows), "next_cursor": next.map { .string($0.token) } ?? .null]),
            position: position)
    }

    /// The placement the path names, if the caller's scope holds it (else 404), and the position
    /// the read reflects.
    func scopedPlacement(_ request: Request, _ context: LedgerRequestContext) async throws -> (row: PlacementRow, position: Int64) {
        let caller = try context.caller
        let postingID = try context.parameters.pathIdentifier("posting_id")
        let studentID = try context.parameters.pathIdentifier("student_id")
        let scope = Self.scope(of: caller)
        let (rows, position) = try await readRows(request, context, projections: ["placements"]) {
            $0.placementQuery(postingID: postingID, studentID: studentID, scope: scope)
        }
        guard let row = rows.first else { throw LedgerError(.notFound, "no placement of student \(studentID) on posting \(postingID)") }
        return (row, position)
    }

    func placement(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let (row, position) = try await scopedPlacement(request, context)
        let (postingID, studentID) = (row.postingID, row.studentID)
        // The audit trail comes from the log itself: the posting-level events and that student's.
        let store = store
        let events = try await db { try await store.stream(postingID) }.filter {
            let student = $0.event.data.studentID
            return student == nil || student == studentID
        }
        return Reply.json(.ok, .object(["placement": row.json, "events": .array(events.map(\.json))]), position: position)
    }

    /// The placement's proof against the latest signed seal (docs/proofs.md). Scoped like the
    /// placement: the live row decides who may ask; the proof is built in one snapshot of the reads' pool.
    func placementProof(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let (row, position) = try await scopedPlacement(request, context)
        let (postingID, studentID) = (row.postingID, row.studentID)
        guard let proofSigner else {
            throw LedgerError(.unavailable, "this daemon has no seal signing key (--seal-keys): it cannot sign a proof's stream head")
        }
        let signer: SealSigningKey
        do { signer = try await proofSigner() } catch let error as SealKeyError {
            throw LedgerError(.unavailable, "cannot sign the proof: \(error.message)")
        }
        let client = reads.client, logger = store.logger
        let proof = try await db {
            try await client.withConnection { connection in
                try await connection.transaction(.snapshot, logger: logger) {
                    try await Integrity(client: client, logger: logger).placementProof(
                        postingID: postingID, studentID: studentID, signer: signer, on: connection)
                }
            }
        }
        return Reply.json(.ok, proof.json, position: position)
    }

    func universityReport(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let caller = try context.require(.university, .platform, .admin, action: "read university reports")
        let id = try context.parameters.pathIdentifier("university_id")
        if caller.role == .university, caller.orgID != id { throw LedgerError(.notFound, "no report for university \(id)") }
        let range = try request.uri.queryParameters.timeRange()
        let asOf = try request.uri.queryParameters.time("as_of")
        let gate = historyReports
        let (report, position) = try await read(request, context, projections: asOf == nil ? ["placements"] : ["placements", "history"]) { model, connection in
            if let asOf { return try await gate.run { try await model.universityReport(id, range: range, asOf: asOf, on: connection) } }
            return try await model.universityReport(id, range: range, on: connection)
        }
        return Reply.json(.ok, report, position: position)
    }

    func companyStipends(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let caller = try context.require(.company, .platform, .admin, action: "read stipend reports")
        let id = try context.parameters.pathIdentifier("company_id")
        if caller.role == .company, caller.orgID != id { throw LedgerError(.notFound, "no stipend report for company \(id)") }
        let csv = try request.uri.queryParameters.wantsCSV()
        let asOf = try request.uri.queryParameters.time("as_of")
        let gate = historyReports
        let (report, position) = try await read(request, context, projections: asOf == nil ? ["placements"] : ["placements", "history"]) { model, connection in
            if let asOf { return try await gate.run { try await model.companyStipends(id, asOf: asOf, on: connection) } }
            return try await model.companyStipends(id, on: connection)
        }
        if csv {
            guard case .array(let rows)? = report["by_currency"] else { throw LedgerError(.notFound, "no stipend report") }
            return Reply.csv(CSV.table(columns: ReadModel.stipendCSVColumns, rows: rows), filename: "stipends-\(id).csv", position: position)
        }
        return Reply.json(.ok, report, position: position)
    }

    func payouts(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let caller = try context.caller
        let query = request.uri.queryParameters
        let range = try query.timeRange()
        let companyID = try query.identifier("company_id")
        let universityID = try query.identifier("university_id")
        let csv = try query.wantsCSV()
        let asOf = try query.time("as_of")
        let scope = Self.scope(of: caller)
        let gate = historyReports
        let ((items, json), position) = try await read(request, context, projections: asOf == nil ? ["placements"] : ["placements", "history"]) { model, connection in
            if let asOf {
                return try await gate.run {
                    try await model.payouts(range: range, companyID: companyID, universityID: universityID, scope: scope, asOf: asOf, on: connection)
                }
            }
            return try await model.payouts(range: range, companyID: companyID, universityID: universityID, scope: scope, on: connection)
        }
        if csv {
            return Reply.csv(CSV.table(columns: PaymentRow.columns, rows: items.map(\.json)), filename: "payouts.csv", position: position)
        }
        return Reply.json(.ok, json, position: position)
    }

    func projectionStatus(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        _ = try context.require(.platform, .admin, action: "read projection status")
        let (statuses, position) = try await readRows(request, context, projections: ProjectionDefinition.all.map(\.name)) { _ in
            ProjectionRunner.statusQuery
        }
        return Reply.json(.ok, .object(["projections": .array(statuses.map(\.json))]), position: position)
    }
}

extension Parameters {
    /// A path parameter that must be an identifier, percent-decoded first (the router leaves path
    /// segments encoded; clients such as the dashboard encode `:`).
    func pathIdentifier(_ name: String) throws -> String {
        guard let raw = self.get(name), let id = raw.removingPercentEncoding, Identifier.isValid(id) else {
            throw LedgerError(.invalidField, "the \(name) in the path is not a valid identifier", field: name)
        }
        return id
    }
}

extension FlatDictionary where Key == Substring, Value == Substring {
    func optionalInteger(_ name: String, range: ClosedRange<Int64>) throws -> Int64? {
        guard self[Substring(name)] != nil else { return nil }
        return try integer(name, default: 0, range: range)
    }

    func identifier(_ name: String) throws -> String? {
        guard let text = self[Substring(name)] else { return nil }
        guard Identifier.isValid(String(text)) else {
            throw LedgerError(.invalidField, "\(name) is not a valid identifier", field: name)
        }
        return String(text)
    }

    func time(_ name: String) throws -> Timestamp? {
        guard let text = self[Substring(name)] else { return nil }
        guard let time = Timestamp(rfc3339: String(text)) else {
            throw LedgerError(.invalidField, "\(name) must be an RFC 3339 time with a zone, e.g. 2026-03-01T00:00:00Z", field: name)
        }
        return time
    }

    func timeRange() throws -> TimeRange {
        let range = TimeRange(from: try time("from"), to: try time("to"))
        if let from = range.from, let to = range.to, to < from {
            throw LedgerError(.invalidField, "to must not be before from", field: "to")
        }
        return range
    }

    func wantsCSV() throws -> Bool {
        switch self["format"] {
        case nil, "json": return false
        case "csv": return true
        default: throw LedgerError(.invalidField, "format must be json or csv", field: "format")
        }
    }
}
