public import Logging
public import PostgresNIO

/// What `/readyz` asks of a database: its schema's version against this binary's, and whether it is
/// a standby (in recovery).
public struct DatabaseHealth: Sendable {
    public var schemaVersion: Int
    public var expectedSchemaVersion: Int
    public var isStandby: Bool

    /// The primary's health. Throws `ConfigurationError` when the schema is newer than this binary
    /// or a released migration was edited.
    public static func read(_ client: any DatabaseClient, logger: Logger) async throws -> DatabaseHealth {
        try await client.withConnection { connection in
            let (current, latest) = try await Migrator.status(connection, logger: logger)
            return DatabaseHealth(
                schemaVersion: current, expectedSchemaVersion: latest, isStandby: try await isInRecovery(connection, logger: logger))
        }
    }

    /// Whether the server behind `client` is a standby.
    public static func isStandby(_ client: any DatabaseClient, logger: Logger) async throws -> Bool {
        try await client.withConnection { try await isInRecovery($0, logger: logger) }
    }

    private static func isInRecovery(_ connection: PostgresConnection, logger: Logger) async throws -> Bool {
        var value = false
        for try await v in try await connection.run("SELECT pg_is_in_recovery()", logger: logger).decode(Bool.self) { value = v }
        return value
    }
}

/// How a database failure should be answered, so that callers above the store need not know
/// SQLSTATEs or the pool's error types.
public enum DatabaseFailure {
    /// Connection failures, timeouts, a server shutting down or read-only: the client should retry.
    public static func isUnavailable(_ error: any Error) -> Bool {
        // The pool's own errors: a connection request cancelled or a pool shut down. Its module is
        // underscored, so the type is matched by name.
        if String(reflecting: type(of: error)).hasSuffix(".ConnectionPoolError") { return true }
        guard let psql = error as? PSQLError else { return false }
        if let state = psql.sqlState {
            // 08: connection exceptions; 57P: operator intervention (shutdown, crash recovery); 53: resources;
            // 25006: a read-only transaction (the server is a standby, e.g. the old primary after a failover).
            // 42P01 on a read model's table: a ledger's first start, before the daemon has built them.
            if state == "42P01", psql.serverInfo?[.message]?.contains("proj_") == true { return true }
            return state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53") || state == "25006"
        }
        return true  // no server answer at all: connection closed, refused, timed out
    }

    /// A standby cancelled a read that conflicted with the WAL it replays (a schema swap on the
    /// primary, vacuum): the same read in a new snapshot sees the new state.
    public static func isRecoveryConflict(_ error: any Error) -> Bool {
        (error as? PSQLError)?.sqlState == "40001"
    }
}
