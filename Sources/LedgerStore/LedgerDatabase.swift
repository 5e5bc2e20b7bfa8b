import Foundation
public import Logging
public import PostgresNIO

/// The ledger's PostgreSQL, located and made ready: the embedded cluster started if that is the
/// location, the database created, migrations applied. Hands out client configurations for the
/// owner (migrations, admin CLI) and the app role (the daemon).
public final class LedgerDatabase: Sendable {
    public let location: DatabaseLocation
    public let ownerConfiguration: DatabaseEndpoint
    public let appConfiguration: DatabaseEndpoint
    /// The URL's hosts when it names several (nil: one server); the configurations above are the
    /// one that accepted writes when the ledger was opened.
    public let hosts: DatabaseHosts?
    let cluster: EmbeddedCluster.Handle?

    private init(
        location: DatabaseLocation, owner: DatabaseEndpoint, app: DatabaseEndpoint,
        cluster: EmbeddedCluster.Handle?, hosts: DatabaseHosts? = nil
    ) {
        self.location = location
        self.ownerConfiguration = owner
        self.appConfiguration = app
        self.cluster = cluster
        self.hosts = hosts
    }

    /// Opens the location. With `migrate`, brings the schema up to date; otherwise only checks that
    /// the database is not newer than this binary.
    public static func open(
        _ location: DatabaseLocation, migrate: Bool = true, durable: Bool = true, logger: Logger
    ) async throws -> LedgerDatabase {
        switch location {
        case .url(let url):
            let endpoints = try DatabaseEndpoint.parseHosts(url: url)
            var hosts: DatabaseHosts?
            if endpoints.count > 1 {
                let (found, states) = await Failover.findWritable(endpoints, timeout: .seconds(5), logger: logger)
                guard let found else {
                    throw ConfigurationError(
                        "none of the database URL's hosts accepts writes (\(states.joined(separator: "; "))): the ledger needs its primary")
                }
                hosts = DatabaseHosts(endpoints: endpoints, current: found)
            }
            let configuration = endpoints[hosts?.current ?? 0]
            let database = LedgerDatabase(location: location, owner: configuration, app: configuration, cluster: nil, hosts: hosts)
            try await database.prepare(migrate: migrate, embedded: false, logger: logger)
            return database
        case .embedded(let dataDirectory):
            let cluster = try EmbeddedCluster(dataDirectory: dataDirectory, durable: durable)
            let handle = try await onOwnThread { try cluster.start(logger: logger) }
            do {
                try await createDatabaseIfNeeded(cluster: cluster, logger: logger)
                let owner = DatabaseEndpoint.embedded(cluster, user: EmbeddedCluster.ownerUser)
                let app = DatabaseEndpoint.embedded(cluster, user: EmbeddedCluster.appUser)
                let database = LedgerDatabase(location: location, owner: owner, app: app, cluster: handle)
                try await database.prepare(migrate: migrate, embedded: true, logger: logger)
                return database
            } catch {
                handle.release()
                throw error
            }
        }
    }

    /// Opens a database given its owner and app endpoints (tests; deployments with separate roles).
    public static func open(
        owner: DatabaseEndpoint, app: DatabaseEndpoint, migrate: Bool = true, enableAppLogin: Bool = false, logger: Logger
    ) async throws -> LedgerDatabase {
        let database = LedgerDatabase(location: .url("endpoint"), owner: owner, app: app, cluster: nil)
        try await database.prepare(migrate: migrate, embedded: enableAppLogin, logger: logger)
        return database
    }

    /// Stops the embedded cluster if this was its last user.
    public func close() { cluster?.release() }

    public var embeddedCluster: EmbeddedCluster? { cluster?.cluster }

    private static func createDatabaseIfNeeded(cluster: EmbeddedCluster, logger: Logger) async throws {
        var admin = DatabaseEndpoint.embedded(cluster, user: EmbeddedCluster.ownerUser)
        admin.database = "postgres"
        try await withConnection(admin, logger: logger) { connection in
            let rows = try await connection.run(
                "SELECT count(*) FROM pg_database WHERE datname = \(EmbeddedCluster.databaseName)", logger: logger)
            var count = 0
            for try await n in rows.decode(Int.self) { count = n }
            if count == 0 {
                try await connection.run(PostgresQuery(unsafeSQL: "CREATE DATABASE \(EmbeddedCluster.databaseName)"), logger: logger)
            }
        }
    }

    private func prepare(migrate: Bool, embedded: Bool, logger: Logger) async throws {
        try await Self.withConnection(ownerConfiguration, logger: logger) { connection in
            // A current schema is left alone: the daemon's role may not be allowed to create anything.
            let (current, latest) = try await Migrator.status(connection, logger: logger)
            if migrate && current < latest {
                do {
                    try await Migrator.migrate(connection, logger: logger)
                } catch let error as ConfigurationError {
                    throw ConfigurationError(
                        "\(error.message). If this role may not change the schema, run `placementctl migrate` as the schema owner first")
                }
            }
            if migrate {
                try await Self.checkAppRole(on: connection, logger: logger)
                // A clock behind the log (a restore into another cluster) is moved forward here;
                // a role that may not move it leaves appends refusing (503) with the command to run.
                do {
                    try await LedgerClock.guardAgainstRestore(on: connection, logger: logger)
                } catch let error as ConfigurationError {
                    logger.error("\(error.message)")
                }
                if embedded {
                    // Only when needed: concurrent ALTER ROLEs of one role fail ("tuple concurrently updated").
                    var canLogin = true
                    for try await value in try await connection.run(
                        "SELECT rolcanlogin FROM pg_roles WHERE rolname = \(EmbeddedCluster.appUser)", logger: logger
                    ).decode(Bool.self) { canLogin = value }
                    if !canLogin {
                        try await connection.run(PostgresQuery(unsafeSQL: "ALTER ROLE \(EmbeddedCluster.appUser) LOGIN"), logger: logger)
                    }
                }
            } else if current < latest {
                throw ConfigurationError(
                    "the database schema is at version \(current), this binary needs \(latest): run `placementctl migrate` first")
            }
        }
    }

    /// The daemon's role must exist and hold its grants. A `pg_restore` into a cluster without the
    /// role skips the dump's GRANTs (with errors that are easy to miss): the daemon would then be
    /// refused every read and write. Said here, with the fix, rather than at the first request.
    static func checkAppRole(on connection: PostgresConnection, logger: Logger) async throws {
        let role = EmbeddedCluster.appUser
        for try await state in try await connection.run(
            """
            SELECT CASE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = \(role)) THEN 'missing'
                        WHEN NOT (has_table_privilege(\(role), 'events', 'INSERT') AND has_table_privilege(\(role), 'streams', 'UPDATE')
                                  AND has_table_privilege(\(role), 'proof_secret', 'SELECT')) THEN 'ungranted'
                        ELSE 'ok' END
            """, logger: logger
        ).decode(String.self) {
            switch state {
            case "missing":
                throw ConfigurationError(
                    "the daemon's role \(role) does not exist in this cluster (a pg_restore into a fresh cluster cannot apply the dump's GRANTs without it): "
                        + "create it as a superuser with `CREATE ROLE \(role) NOLOGIN`, then restore again (docs/operations.md)")
            case "ungranted":
                throw ConfigurationError(
                    "the daemon's role \(role) lacks its privileges on the ledger's tables (restored before the role existed?): "
                        + "restore again now that the role exists (docs/operations.md)")
            default: break
            }
        }
    }

    /// One connection for the duration of `body`: for the CLI and setup work.
    public static func withConnection<R: Sendable>(
        _ configuration: DatabaseEndpoint, logger: Logger,
        _ body: (PostgresConnection) async throws -> R
    ) async throws -> R {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: try configuration.connectionConfiguration, id: 1, logger: logger)
        } catch {
            throw ConfigurationError("cannot connect to PostgreSQL (\(configuration.summary)): \(describe(error))")
        }
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// A running connection pool for the duration of `body`.
    public func withClient<R: Sendable>(
        owner: Bool = true, logger: Logger, _ body: @Sendable (PostgresClient) async throws -> R
    ) async throws -> R {
        // The pool warns when a lease comes before run() has started, which is only a race of startup.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        let client = PostgresClient(
            configuration: (owner ? ownerConfiguration : appConfiguration).clientConfiguration, backgroundLogger: background)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}

/// A short, human description of a PostgreSQL error (its message and SQLSTATE when it has them).
public func describe(_ error: any Error) -> String {
    if let psql = error as? PSQLError {
        if let message = psql.serverInfo?[.message] {
            let code = psql.serverInfo?[.sqlState].map { " [\($0)]" } ?? ""
            return message + code
        }
        return "\(psql.code)" + (psql.underlying.map { ": \($0)" } ?? "")
    }
    if let transaction = error as? PostgresTransactionError {
        return describe(transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? error)
    }
    return String(describing: error)
}

extension DatabaseEndpoint {
    public static func embedded(_ cluster: EmbeddedCluster, user: String) -> DatabaseEndpoint {
        DatabaseEndpoint(address: .socket(path: cluster.socketPath), username: user, database: EmbeddedCluster.databaseName)
    }
}
