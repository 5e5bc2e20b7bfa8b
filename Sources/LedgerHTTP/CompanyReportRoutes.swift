import Hummingbird
public import LedgerCore
import LedgerProjections
import LedgerStore
import PostgresNIO
import Synchronization

/// At most `limit` reports folded from the log at once in a daemon (the statement, the aging and
/// every `as_of` report): each reads and folds a company's or university's whole history, seconds
/// of work at a million events, so a key asking again and again could otherwise take the reads'
/// connections and both cores. The count is of the work, not of the requests: work that outlives
/// its request's deadline still holds its place until it ends. More are answered 503 at once.
public final class FoldedReportGate: Sendable {
    public let limit: Int
    private let running = Mutex(0)

    public init(limit: Int = 2) { self.limit = limit }

    public func run<R>(_ body: () async throws -> R) async throws -> R {
        let admitted = running.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
        guard admitted else {
            throw LedgerError(
                .unavailable, "\(limit) reports folded from the log (statement, aging, as_of) are under way in this daemon; retry shortly")
        }
        defer { running.withLock { $0 -= 1 } }
        return try await body()
    }
}

/// The company statement and aging (docs/api.md): computed from the company's events in the log,
/// folded by the rules' own code (`CompanyLines`), so `as_of` gives what the ledger said then and
/// neither report can disagree with the stipends report.
extension LedgerAPI {
    func addCompanyReportRoutes(to v1: RouterGroup<LedgerRequestContext>) {
        v1.get("reports/companies/:company_id/statement") { request, context in try await self.companyStatement(request, context) }
        v1.get("reports/companies/:company_id/aging") { request, context in try await self.companyAging(request, context) }
    }

    /// The company in the path, if the caller may read its reports (another company: 404).
    private func reportCompany(_ context: LedgerRequestContext, _ what: String) throws -> String {
        let caller = try context.require(.company, .platform, .admin, action: "read \(what)")
        let id = try context.parameters.pathIdentifier("company_id")
        if caller.role == .company, caller.orgID != id { throw LedgerError(.notFound, "no \(what) for company \(id)") }
        return id
    }

    func companyStatement(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let range = try request.uri.queryParameters.timeRange()
        return try await foldedCompanyReport(request, context, "statement") { id, events, asOf, _ in
            let statement = CompanyStatement(companyID: id, events: events, from: range.from, to: range.to, asOf: asOf)
            return (statement.json, CompanyStatement.csvColumns, statement.csvRows)
        }
    }

    func companyAging(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let at = try request.uri.queryParameters.time("at")
        let logger = store.logger
        return try await foldedCompanyReport(request, context, "aging") { id, events, asOf, connection in
            let time: Timestamp
            if let at { time = at } else { time = try await EventStore.databaseNow(on: connection, logger: logger) }
            let aging = CompanyAging(companyID: id, events: events, at: time, asOf: asOf)
            return (aging.json, CompanyAging.csvColumns, aging.csvRows)
        }
    }

    /// A report folded from a company's events: the caller's scope, `as_of` and `format` read, the
    /// company's events read in the request's snapshot under `foldedReports`, `build` run on them,
    /// and its answer served as JSON or (its rows under its columns) CSV.
    private func foldedCompanyReport(
        _ request: Request, _ context: LedgerRequestContext, _ what: String,
        _ build: @escaping @Sendable (String, [RecordedEvent], Timestamp?, PostgresConnection) async throws -> (JSON, [String], [JSON])
    ) async throws -> Response {
        let id = try reportCompany(context, what)
        let query = request.uri.queryParameters
        let asOf = try query.time("as_of")
        let csv = try query.wantsCSV()
        let logger = store.logger
        let gate = foldedReports
        let ((json, columns, rows), position) = try await read(request, context, projections: ["placements"]) { _, connection in
            try await gate.run {
                let events = try await EventStore.companyEvents(id, asOf: asOf, on: connection, logger: logger)
                return try await build(id, events, asOf, connection)
            }
        }
        if csv { return Reply.csv(CSV.table(columns: columns, rows: rows), filename: "\(what)-\(id).csv", position: position) }
        return Reply.json(.ok, json, position: position)
    }
}
