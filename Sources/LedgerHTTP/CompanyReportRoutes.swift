import Hummingbird
public import LedgerCore
import LedgerProjections
import LedgerStore
import PostgresNIO
import Synchronization

/// At most `limit` reports of the ledger's history at once in a daemon (the statement, the aging
/// and every `as_of` report). Most read a few thousand rows of the `history` projection, but a
/// statement of a busy company's whole history, an aging far in the past or a university report
/// `as_of` with a range in part months reads far more, so a key asking again and again could
/// otherwise take the reads' connections and both cores. The count is of the work, not of the
/// requests: work that outlives its request's deadline still holds its place until it ends. More
/// are answered 503 at once.
public final class HistoryReportGate: Sendable {
    public let limit: Int
    private let running = Mutex(0)

    public init(limit: Int = 4) { self.limit = limit }

    public func run<R>(_ body: () async throws -> R) async throws -> R {
        let admitted = running.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
        guard admitted else {
            throw LedgerError(
                .unavailable, "\(limit) reports of the ledger's history (statement, aging, as_of) are under way in this daemon; retry shortly")
        }
        defer { running.withLock { $0 -= 1 } }
        return try await body()
    }
}

/// The company statement and aging (docs/api.md), read from the `history` projection: each
/// event's lines with the time it was recorded, derived by the rules' own code (`StatementLine.lines`),
/// so `as_of` gives what the ledger said then and neither report can disagree with the stipends report.
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
        return try await companyReport(request, context, "statement") { model, id, asOf, connection in
            try await model.companyStatement(id, range: range, asOf: asOf, on: connection)
        }
    }

    func companyAging(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let at = try request.uri.queryParameters.time("at")
        return try await companyReport(request, context, "aging") { model, id, asOf, connection in
            try await model.companyAging(id, at: at, asOf: asOf, on: connection)
        }
    }

    /// A report of a company's history: the caller's scope, `as_of` and `format` read, `build` run
    /// in the request's snapshot under `historyReports`, and its answer served as JSON or (its rows
    /// under its columns) CSV.
    private func companyReport<R: TabularReport>(
        _ request: Request, _ context: LedgerRequestContext, _ what: String,
        _ build: @escaping @Sendable (ReadModel, String, Timestamp?, PostgresConnection) async throws -> R
    ) async throws -> Response {
        let id = try reportCompany(context, what)
        let query = request.uri.queryParameters
        let asOf = try query.time("as_of")
        let csv = try query.wantsCSV()
        let gate = historyReports
        let (report, position) = try await read(request, context, projections: ["placements", "history"]) { model, connection in
            try await gate.run { try await build(model, id, asOf, connection) }
        }
        if csv { return Reply.csv(CSV.table(columns: R.csvColumns, rows: report.csvRows), filename: "\(what)-\(id).csv", position: position) }
        return Reply.json(.ok, report.json, position: position)
    }
}

/// A report served as JSON or as CSV rows (built only when asked for: a row per line costs more
/// than the JSON).
protocol TabularReport: Sendable {
    var json: JSON { get }
    static var csvColumns: [String] { get }
    var csvRows: [JSON] { get }
}

extension CompanyStatement: TabularReport {}
extension CompanyAging: TabularReport {}
