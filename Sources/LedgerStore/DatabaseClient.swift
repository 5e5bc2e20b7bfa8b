public import Logging
public import PostgresNIO

/// What the ledger's code needs of a connection pool: PostgresNIO's `PostgresClient` on one server,
/// or a `FailoverClient`, which follows the read-write server among several.
public protocol DatabaseClient: Sendable {
    /// Leases a connection for the duration of `closure`, which must not keep it.
    func withConnection<Result>(_ closure: nonisolated(nonsending) (PostgresConnection) async throws -> Result) async throws -> Result
    /// Runs one statement on a leased connection, released when its rows have been read.
    func query(_ query: PostgresQuery, logger: Logger?, file: String, line: Int) async throws -> PostgresRowSequence
}

extension PostgresClient: DatabaseClient {}

extension DatabaseClient {
    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        try await self.query(query, logger: Optional(logger), file: file, line: line)
    }
}
