public import Logging
public import PostgresNIO
public import ServiceLifecycle
import NIOCore
import Synchronization

/// Follows the read-write server among the hosts of a database URL, as libpq's
/// `target_session_attrs=read-write` does, for pools that live as long as the daemon.
///
/// PostgresNIO's `PostgresClient` reaches one host. `Failover` watches the current one on a
/// connection of its own (every `interval`, each check bounded by `probeTimeout`); when it stops
/// answering or stops accepting writes (crashed, demoted, cut off), the hosts are tried in the URL's
/// order and the first that accepts writes becomes current: each of its `FailoverClient`s gets a new
/// `PostgresClient` on that host, and the old one is shut down, which fails what still waits on it
/// (those requests answer 503 and are retried). A current host that answers is kept, even when one
/// earlier in the list accepts writes again: two writable servers mean the old primary came back
/// unfenced, and moving back and forth would split the ledger between them.
public final class Failover: Service, Sendable, CustomStringConvertible {
    public let hosts: [DatabaseEndpoint]
    let interval: Duration
    let probeTimeout: Duration
    let logger: Logger

    private struct State {
        var current: Int
        var clients: [FailoverClient] = []
        var started = false
    }

    private let state: Mutex<State>

    public var description: String { "Failover" }

    public init(hosts: [DatabaseEndpoint], current: Int, interval: Duration = .seconds(1), probeTimeout: Duration = .seconds(2), logger: Logger) {
        precondition(hosts.indices.contains(current))
        self.hosts = hosts
        self.interval = interval
        self.probeTimeout = probeTimeout
        self.logger = logger
        self.state = Mutex(State(current: current))
    }

    /// The host the pools use now.
    public var current: DatabaseEndpoint { hosts[state.withLock { $0.current }] }

    /// A pool that follows the read-write host. Make them all before `run()`.
    public func client(maximumConnections: Int? = nil) -> FailoverClient {
        state.withLock { state in
            precondition(!state.started, "Failover.client() after run()")
            let client = FailoverClient(
                endpoint: hosts[state.current], maximumConnections: maximumConnections, logger: logger)
            state.clients.append(client)
            return client
        }
    }

    /// Runs the pools and the watch until a graceful shutdown (or cancellation).
    public func run() async {
        let clients = state.withLock { state in
            state.started = true
            return state.clients
        }
        // The watch puts new pools in place itself (so no request meets a pool being retired
        // after `current` has moved) and hands them here to be run.
        let (started, announce) = AsyncStream<[(PostgresClient, AsyncStream<Void>)]>.makeStream()
        await withDiscardingTaskGroup { group in
            for client in clients {
                let (pool, retired) = client.first
                group.addTask { await Self.run(pool, until: retired) }
            }
            group.addTask {
                await cancelWhenGracefulShutdown { await self.watch(clients, announce) }
                announce.finish()
            }
            for await pools in started {
                for (pool, retired) in pools { group.addTask { await Self.run(pool, until: retired) } }
            }
        }
    }

    /// Runs `pool` until a graceful shutdown or until `retired` ends (the pool was replaced).
    private static func run(_ pool: PostgresClient, until retired: AsyncStream<Void>) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await pool.run() }
            group.addTask { await cancelWhenGracefulShutdown { for await _ in retired {} } }
            _ = await group.next()
            group.cancelAll()
        }
    }

    private func watch(_ clients: [FailoverClient], _ announce: AsyncStream<[(PostgresClient, AsyncStream<Void>)]>.Continuation) async {
        var connection: PostgresConnection?
        var complained: ContinuousClock.Instant?
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { break }
            let index = state.withLock { $0.current }
            let trouble: String
            do {
                let live: PostgresConnection
                if let connection { live = connection } else { live = try await Self.connect(hosts[index], timeout: probeTimeout, logger: logger) }
                connection = live
                if try await Self.acceptsWrites(live, timeout: probeTimeout, logger: logger) {
                    complained = nil
                    continue
                }
                trouble = "no longer accepts writes (a standby now)"
            } catch {
                trouble = "does not answer: \(describe(error))"
                try? await connection?.close()
                connection = nil
            }
            // Said when trouble starts, then every 30 s while it lasts.
            let now = ContinuousClock.now
            let complain = complained.map { now - $0 >= .seconds(30) } ?? true
            if complain {
                complained = now
                logger.warning("the database host \(hosts[index].summary) \(trouble); looking for the one that accepts writes")
            }
            let (found, states) = await Self.findWritable(hosts, timeout: probeTimeout, logger: logger)
            guard let found, found != index else {
                if found == nil, complain {
                    logger.error("no database host accepts writes; appends answer 503 until one does", metadata: ["ledger.hosts": "\(states)"])
                }
                continue
            }
            complained = nil
            try? await connection?.close()
            connection = nil
            let pools = clients.map { $0.replace(with: hosts[found]) }
            state.withLock { $0.current = found }
            announce.yield(pools)
            logger.warning(
                "failed over: the pools now use the database host that accepts writes",
                metadata: ["ledger.database_host": "\(hosts[found].summary)", "ledger.previous_host": "\(hosts[index].summary)"])
        }
        try? await connection?.close()
    }

    /// The first of `hosts`, in order, that accepts writes (nil: none does), and what each one
    /// tried said.
    public static func findWritable(_ hosts: [DatabaseEndpoint], timeout: Duration, logger: Logger) async -> (Int?, [String]) {
        var states: [String] = []
        for (index, host) in hosts.enumerated() {
            do {
                let connection = try await connect(host, timeout: timeout, logger: logger)
                let writable: Bool
                do {
                    writable = try await acceptsWrites(connection, timeout: timeout, logger: logger)
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
                if writable { return (index, states) }
                states.append("\(host.summary): read-only (a standby)")
            } catch {
                states.append("\(host.summary): \(describe(error))")
            }
        }
        return (nil, states)
    }

    static func connect(_ host: DatabaseEndpoint, timeout: Duration, logger: Logger) async throws -> PostgresConnection {
        var configuration = try host.connectionConfiguration
        configuration.options.connectTimeout = TimeAmount(timeout)
        let ready = configuration
        let bound = timeout + .seconds(1)  // the startup and authentication too, on a link that went silent
        return try await abandoning(after: bound) {
            try await PostgresConnection.connect(configuration: ready, id: 0, logger: logger)
        }
    }

    /// libpq's read-write test: not in recovery, and not read-only by default.
    static func acceptsWrites(_ connection: PostgresConnection, timeout: Duration, logger: Logger) async throws -> Bool {
        try await abandoning(after: timeout) {
            var writable = false
            for try await value in try await connection.run(
                "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'", logger: logger
            ).decode(Bool.self) { writable = value }
            return writable
        }
    }
}

/// A connection pool on whichever host its `Failover` found accepting writes.
public final class FailoverClient: DatabaseClient {
    private struct Pool {
        var client: PostgresClient
        var retire: AsyncStream<Void>.Continuation
    }

    private let pool: Mutex<Pool>
    let maximumConnections: Int?
    let logger: Logger
    /// The first pool and its retirement, for `Failover.run`.
    let first: (PostgresClient, AsyncStream<Void>)

    init(endpoint: DatabaseEndpoint, maximumConnections: Int?, logger: Logger) {
        self.maximumConnections = maximumConnections
        self.logger = logger
        let client = Self.makeClient(endpoint, maximumConnections: maximumConnections, logger: logger)
        let (retired, retire) = AsyncStream<Void>.makeStream()
        self.pool = Mutex(Pool(client: client, retire: retire))
        self.first = (client, retired)
    }

    private static func makeClient(_ endpoint: DatabaseEndpoint, maximumConnections: Int?, logger: Logger) -> PostgresClient {
        var configuration = endpoint.clientConfiguration
        if let maximumConnections { configuration.options.maximumConnections = maximumConnections }
        return PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// Puts a pool on `endpoint` in place of the current one, which is retired.
    func replace(with endpoint: DatabaseEndpoint) -> (PostgresClient, AsyncStream<Void>) {
        let client = Self.makeClient(endpoint, maximumConnections: maximumConnections, logger: logger)
        let (retired, retire) = AsyncStream<Void>.makeStream()
        let old = pool.withLock { pool in
            let old = pool
            pool = Pool(client: client, retire: retire)
            return old
        }
        old.retire.finish()
        return (client, retired)
    }

    private var client: any DatabaseClient { pool.withLock { $0.client } }

    public func withConnection<Result>(_ closure: nonisolated(nonsending) (PostgresConnection) async throws -> Result) async throws -> Result {
        try await client.withConnection(closure)
    }

    public func query(_ query: PostgresQuery, logger: Logger?, file: String, line: Int) async throws -> PostgresRowSequence {
        try await client.query(query, logger: logger, file: file, line: line)
    }
}
