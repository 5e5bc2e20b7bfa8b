import LedgerCore
public import Logging
public import PostgresNIO

extension PostgresConnection {
    /// What a statement on a closed connection answers: 503, retry (the pool opens a new one).
    static var closedError: LedgerError {
        LedgerError(.unavailable, "the connection to the ledger's database closed (a database restart?); retry shortly with the same event ids")
    }

    /// `query`, refusing a connection that is already closed instead of waiting on it for ever.
    ///
    /// PostgresNIO 1.33.2 writes each query to its channel with no write promise. Once the server
    /// has closed the connection (a PostgreSQL restart, `pg_terminate_backend`) and the channel's
    /// handlers are gone, that write fails unseen and the query's own promise is never completed:
    /// the caller waits for ever and cannot be cancelled. This happened to every statement sent
    /// after a connection died under us (the ROLLBACK after a failed statement, a lease unlock, an
    /// idle projection worker's next batch), which stalled the projections and the daemon's
    /// shutdown after a PostgreSQL restart. Every statement on a connection goes through here;
    /// `abandoning` stays the backstop for a close that races this check.
    @discardableResult
    public func run(
        _ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> PostgresRowSequence {
        guard !isClosed else { throw Self.closedError }
        return try await self.query(query, logger: logger, file: file, line: line)
    }

    /// `execute` of a prepared statement, refusing a closed connection the same way as `run`.
    ///
    /// `prepared: false` sends the same SQL unprepared, so that PostgreSQL plans it with the values:
    /// a prepared statement soon runs a generic plan, made for arrays of a few elements, and with the
    /// thousands of ids of an import chunk that plan took 115 ms where the planned-with-values one
    /// takes 14 (import of 295k events: 13.1k against 19.1k events/s).
    public func run<Statement: PostgresPreparedStatement>(
        _ statement: Statement, prepared: Bool = true, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, Statement.Row> {
        guard !isClosed else { throw Self.closedError }
        if prepared { return try await execute(statement, logger: logger, file: file, line: line) }
        let query = PostgresQuery(unsafeSQL: Statement.sql, binds: try statement.makeBindings())
        return try await self.query(query, logger: logger, file: file, line: line).map { try statement.decodeRow($0) }
    }
}

extension PostgresConnection {
    /// How a transaction begins and whether it keeps what it did.
    public enum TransactionKind: Sendable {
        /// `BEGIN` … `COMMIT`.
        case readWrite
        /// A read-only snapshot for several statements (`REPEATABLE READ, READ ONLY`), rolled back at the end.
        case snapshot
    }

    /// The one transaction helper: runs `body` between BEGIN and COMMIT (or, for a snapshot, ROLLBACK),
    /// rolling back when it throws. Every statement goes through `run`, so a connection that closed
    /// under the body is never sent a ROLLBACK that would wait for ever (PostgresNIO's own
    /// `withTransaction` sends it unchecked).
    public func transaction<R>(_ kind: TransactionKind = .readWrite, logger: Logger, _ body: () async throws -> R) async throws -> R {
        switch kind {
        case .readWrite: try await run("BEGIN", logger: logger)
        case .snapshot: try await run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
        }
        do {
            let result = try await body()
            switch kind {
            case .readWrite: try await run("COMMIT", logger: logger)
            case .snapshot: try await run("ROLLBACK", logger: logger)
            }
            return result
        } catch {
            if !isClosed { _ = try? await run("ROLLBACK", logger: logger) }
            throw error
        }
    }
}
