public import LedgerCore
public import LedgerStore
public import PostgresNIO

/// The report routes' `as_of`: what the ledger said at an earlier recorded time, folded from the
/// log (the events recorded by then) by `HistoricLedger`, not read from today's rows. Today's rows
/// only choose which postings to read: applications and payments are never removed, so the
/// postings that mattered then are among those that matter now.
extension ReadModel {
    public func universityReport(_ universityID: String, range: TimeRange, asOf: Timestamp, on connection: PostgresConnection) async throws -> JSON {
        let postings = try await postingIDs(
            "SELECT DISTINCT posting_id FROM \(unescaped: placements).applications WHERE university_id = \(universityID)", on: connection)
        let ledger = HistoricLedger(events: try await EventStore.events(ofPostings: postings, asOf: asOf, on: connection, logger: logger))
        var members = range.json
        members.merge(ledger.universityFigures(universityID, from: range.from, to: range.to)) { $1 }
        members["university_id"] = .string(universityID)
        members["as_of"] = .string(asOf.rfc3339)
        return .object(members)
    }

    public func companyStipends(_ companyID: String, asOf: Timestamp, on connection: PostgresConnection) async throws -> JSON {
        let ledger = HistoricLedger(events: try await EventStore.companyEvents(companyID, asOf: asOf, on: connection, logger: logger))
        guard case .object(var members) = try ledger.companyStipends(companyID) else { return .null }
        members["as_of"] = .string(asOf.rfc3339)
        return .object(members)
    }

    public func payouts(
        range: TimeRange, companyID: String?, universityID: String?, scope: ReadScope, asOf: Timestamp, on connection: PostgresConnection
    ) async throws -> (items: [PaymentRow], json: JSON) {
        let postings = try await postingIDs(
            """
            SELECT DISTINCT posting_id FROM \(unescaped: placements).payments
            WHERE (\(companyID)::text IS NULL OR company_id = \(companyID))
              AND (\(universityID)::text IS NULL OR university_id = \(universityID))
              AND (\(scope.companyID)::text IS NULL OR company_id = \(scope.companyID))
              AND (\(scope.universityID)::text IS NULL OR university_id = \(scope.universityID))
            """, on: connection)
        let ledger = HistoricLedger(events: try await EventStore.events(ofPostings: postings, asOf: asOf, on: connection, logger: logger))
        let items = ledger.payments(from: range.from, to: range.to) { row in
            [companyID, scope.companyID].allSatisfy { $0 == nil || $0 == row.companyID }
                && [universityID, scope.universityID].allSatisfy { $0 == nil || $0 == row.universityID }
        }
        guard case .object(var members) = Self.payoutsJSON(items, range: range) else { return (items, .null) }
        members["as_of"] = .string(asOf.rfc3339)
        return (items, .object(members))
    }

    private func postingIDs(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [String] {
        var ids: [String] = []
        for try await id in try await connection.run(query, logger: logger).decode(String.self) { ids.append(id) }
        return ids
    }
}
