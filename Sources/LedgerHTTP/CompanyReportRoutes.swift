import Hummingbird
public import LedgerCore
import LedgerProjections
import LedgerStore
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
        let id = try reportCompany(context, "statement")
        let query = request.uri.queryParameters
        let range = try query.timeRange()
        let asOf = try query.time("as_of")
        let csv = try query.wantsCSV()
        let logger = store.logger
        let gate = foldedReports
        let (statement, position) = try await read(request, context, projections: ["placements"]) { _, connection in
            try await gate.run {
                let events = try await EventStore.companyEvents(id, asOf: asOf, on: connection, logger: logger)
                return CompanyStatement(companyID: id, events: events, from: range.from, to: range.to, asOf: asOf)
            }
        }
        if csv {
            return Reply.csv(
                CSV.table(columns: CompanyStatement.csvColumns, rows: statement.csvRows), filename: "statement-\(id).csv", position: position)
        }
        return Reply.json(.ok, statement.json, position: position)
    }

    func companyAging(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let id = try reportCompany(context, "aging")
        let query = request.uri.queryParameters
        let at = try query.time("at")
        let asOf = try query.time("as_of")
        let csv = try query.wantsCSV()
        let logger = store.logger
        let gate = foldedReports
        let (aging, position) = try await read(request, context, projections: ["placements"]) { _, connection in
            try await gate.run {
                let events = try await EventStore.companyEvents(id, asOf: asOf, on: connection, logger: logger)
                var time = at
                if time == nil { time = try await EventStore.databaseNow(on: connection, logger: logger) }
                return CompanyAging(companyID: id, events: events, at: time!, asOf: asOf)
            }
        }
        if csv {
            return Reply.csv(CSV.table(columns: CompanyAging.csvColumns, rows: aging.csvRows), filename: "aging-\(id).csv", position: position)
        }
        return Reply.json(.ok, aging.json, position: position)
    }
}
