import LedgerCore
public import Logging
import NIOCore
public import PostgresNIO
import Synchronization

extension PostgresConnection {
    /// What a statement on a closed connection answers: 503, retry (the pool opens a new one).
    static var closedError: LedgerError {
        LedgerError(.unavailable, "the connection to the ledger's database closed (a database restart?); retry shortly with the same event ids")
    }

    /// `query`, refusing a connection that is closed instead of waiting on it for ever.
    ///
    /// PostgresNIO 1.33.2 writes each statement to its channel with no write promise. Once the
    /// server has closed the connection, NIO marks the channel inactive, fails the statements under
    /// way, and removes the channel's handlers in a later event-loop task; a statement written
    /// after that is dropped and its caller waits for ever (docs/postgresnio-lost-statement.md has
    /// the mechanism and a reproduction). So the check and the write run in one job on the
    /// connection's own event loop: either the channel is already inactive (refused here), or the
    /// statement reaches the handler before any close task can run, and the close fails it as it
    /// should. Nothing may suspend between the two: every value the call needs is at hand.
    @discardableResult
    public func run(
        _ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> PostgresRowSequence {
        try await withTaskExecutorPreference(EventLoopExecutor.of(eventLoop)) {
            guard !self.isClosed else { throw Self.closedError }
            return try await self.query(query, logger: logger, file: file, line: line)
        }
    }

    /// `execute` of a prepared statement, checked and written on the connection's event loop as
    /// `run` does.
    ///
    /// `prepared: false` sends the same SQL unprepared, so that PostgreSQL plans it with the values:
    /// a prepared statement soon runs a generic plan, made for arrays of a few elements, which
    /// planned thousands of ids of an import chunk badly (docs/performance.md).
    public func run<Statement: PostgresPreparedStatement>(
        _ statement: Statement, prepared: Bool = true, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, Statement.Row> {
        if prepared {
            return try await withTaskExecutorPreference(EventLoopExecutor.of(eventLoop)) {
                guard !self.isClosed else { throw Self.closedError }
                return try await self.execute(statement, logger: logger, file: file, line: line)
            }
        }
        let query = PostgresQuery(unsafeSQL: Statement.sql, binds: try statement.makeBindings())
        return try await run(query, logger: logger, file: file, line: line).map { try statement.decodeRow($0) }
    }
}

/// A NIO event loop as a task executor: a task that prefers it runs its jobs on the loop's thread.
final class EventLoopExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    private init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// One executor per event loop (a pool's connections share a few loops).
    private static let executors = Mutex<[ObjectIdentifier: EventLoopExecutor]>([:])

    static func of(_ loop: any EventLoop) -> EventLoopExecutor {
        executors.withLock { executors in
            if let executor = executors[ObjectIdentifier(loop)] { return executor }
            let executor = EventLoopExecutor(loop)
            executors[ObjectIdentifier(loop)] = executor
            return executor
        }
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
