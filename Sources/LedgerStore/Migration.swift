import Crypto
public import Logging
public import PostgresNIO

/// One numbered SQL migration from `schema/`.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var sql: String

    public var checksum: String { Hex.encode(Array(SHA256.hash(data: Array(sql.utf8)))) }

    public static var latestVersion: Int { all.map(\.version).max() ?? 0 }
}

public import LedgerCore

/// Applies the migrations in order, each in its own transaction, recording them in
/// `schema_migrations`. Concurrent migrators wait for each other (an advisory lock); applying
/// twice is a no-op; a database migrated by a newer binary is refused.
public enum Migrator {
    static let lockKey: Int64 = 0x504C_4D49_4752  // "PLMIGR"

    public struct Outcome: Sendable {
        public var applied: [Migration]
        public var currentVersion: Int
    }

    @discardableResult
    public static func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> Outcome {
        try await connection.run("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
        do {
            let outcome = try await migrateLocked(connection, logger: logger)
            try await connection.run("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
            return outcome
        } catch {
            _ = try? await connection.run("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
            throw error
        }
    }

    private static func migrateLocked(_ connection: PostgresConnection, logger: Logger) async throws -> Outcome {
        try await connection.run(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        let applied = try await appliedVersions(connection, logger: logger)
        try checkCompatible(applied: applied)
        var done: [Migration] = []
        for migration in Migration.all.sorted(by: { $0.version < $1.version }) where applied[migration.version] == nil {
            logger.info("applying migration", metadata: ["ledger.migration": "\(migration.name)"])
            do {
                try await connection.transaction(logger: logger) {
                    for statement in SQLScript.statements(migration.sql) {
                        try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.run(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))",
                        logger: logger)
                }
            } catch {
                throw ConfigurationError("migration \(migration.name) failed: \(describe(error))")
            }
            done.append(migration)
        }
        return Outcome(applied: done, currentVersion: Migration.latestVersion)
    }

    static func appliedVersions(_ connection: PostgresConnection, logger: Logger) async throws -> [Int: String] {
        var applied: [Int: String] = [:]
        let rows = try await connection.run("SELECT version, checksum FROM schema_migrations", logger: logger)
        for try await (version, checksum) in rows.decode((Int, String).self) { applied[version] = checksum }
        return applied
    }

    static func checkCompatible(applied: [Int: String]) throws(ConfigurationError) {
        if let newest = applied.keys.max(), newest > Migration.latestVersion {
            throw ConfigurationError(
                "the database schema is at version \(newest), newer than this binary knows (\(Migration.latestVersion)): "
                    + "upgrade placementd and placementctl before using this database")
        }
        for migration in Migration.all {
            if let checksum = applied[migration.version], checksum != migration.checksum {
                throw ConfigurationError(
                    "migration \(migration.name) was applied with different content than this binary carries: "
                        + "released migrations must never be edited")
            }
        }
    }

    /// Whether every migration this binary knows has been applied (for readiness).
    public static func status(_ connection: PostgresConnection, logger: Logger) async throws -> (current: Int, latest: Int) {
        let exists = try await connection.run("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
        var has = false
        for try await (value) in exists.decode(Bool.self) { has = value }
        guard has else { return (0, Migration.latestVersion) }
        let applied = try await appliedVersions(connection, logger: logger)
        try checkCompatible(applied: applied)
        return (applied.keys.max() ?? 0, Migration.latestVersion)
    }
}
