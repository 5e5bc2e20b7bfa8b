import Foundation
public import Hummingbird
import HummingbirdCore
public import LedgerStore
import LedgerProjections
public import Logging
public import PostgresNIO
public import Prometheus
import ServiceLifecycle
import Synchronization

/// What the daemon needs to serve, once its command line is read and its database is open.
public struct DaemonConfiguration: Sendable {
    /// The primary, as the daemon's role.
    public var database: PostgresClient.Configuration
    /// A streaming replica to serve projection reads from (nil: the primary).
    public var replica: PostgresClient.Configuration?
    /// The hosts of a database URL that names several (`database` is the current one's): the
    /// daemon's pools then follow the one that accepts writes (`Failover`).
    public var failoverHosts: DatabaseHosts?
    /// How often `Failover` checks the current host.
    public var failoverInterval: Duration = .seconds(1)
    public var host: String
    public var port: Int
    public var sealInterval: Duration
    /// Where the seal signing key is (nil: the daemon cannot sign seals and logs why each round).
    public var sealKeys: SealKeyring?
    /// Printed on standard output once the server is listening (demo mode's keys and curl lines).
    public var banner: String?
    /// Where `/metrics` comes from: `placementd` passes the registry it bootstrapped swift-metrics
    /// with, so library metrics (Hummingbird's) are shown too.
    public var metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    /// A connection that sends nothing for this long is closed (before its first request, or
    /// between requests), so idle or trickling clients cannot hold sockets for ever.
    public var idleTimeout: Duration = .seconds(30)
    /// At most this many client connections at once; more wait in the listen backlog until one
    /// closes. Keep it below the process's file-descriptor limit (placementd checks).
    public var maxConnections = 4096

    public init(
        database: PostgresClient.Configuration, replica: PostgresClient.Configuration? = nil, host: String = "127.0.0.1",
        port: Int = 8080, sealInterval: Duration = .seconds(60), banner: String? = nil
    ) {
        self.database = database
        self.replica = replica
        self.host = host
        self.port = port
        self.sealInterval = sealInterval
        self.banner = banner
    }
}

/// Connections of the reads' own pool on the primary (the primary pool keeps PostgresNIO's 20).
let readPoolSize = 10

/// The whole daemon: the HTTP server and, in its service group in dependency order, the database
/// pools, the seal service and the projections' preparation. Running it serves until a graceful
/// shutdown, which stops them in reverse order. `placementd` and the tests both start it here.
public func buildApplication(_ configuration: DaemonConfiguration, logger: Logger) -> some ApplicationProtocol {
    // The pools on the primary: one for appends and the services, one for projection reads (so
    // neither a burst of reads nor readers waiting for a min_position take the connections appends
    // need), a small one for /readyz. With several hosts they follow the one that accepts writes.
    let client: any DatabaseClient
    let primaryReads: any DatabaseClient
    let probe: any DatabaseClient
    var services: [any Service]
    if let hosts = configuration.failoverHosts, hosts.endpoints.count > 1 {
        let failover = Failover(hosts: hosts.endpoints, current: hosts.current, interval: configuration.failoverInterval, logger: logger)
        client = failover.client()
        primaryReads = failover.client(maximumConnections: readPoolSize)
        probe = failover.client(maximumConnections: 2)
        services = [failover]
    } else {
        var readConfiguration = configuration.database
        readConfiguration.options.maximumConnections = readPoolSize
        var probeConfiguration = configuration.database
        probeConfiguration.options.maximumConnections = 2
        let pools = [configuration.database, readConfiguration, probeConfiguration].map {
            PostgresClient(configuration: $0, backgroundLogger: logger)
        }
        (client, primaryReads, probe) = (pools[0], pools[1], pools[2])
        services = pools
    }
    // Projection reads go to the replica, if there is one.
    var readPool = primaryReads
    if let replica = configuration.replica {
        let replicaPool = PostgresClient(configuration: replica, backgroundLogger: logger)
        readPool = replicaPool
        services.append(replicaPool)
    }
    let reads = PositionWatch(client: readPool, logger: logger)
    // The live feed reads through the store, and the store's commits wake it: bound after both exist.
    let live = LateBound<LiveFeed>()
    let store = EventStore(
        client: client, logger: logger, readModels: InlineProjections(),
        committed: {
            reads.poke()
            live.value?.poke()
        })
    let liveFeed = LiveFeed(store: store, logger: logger)
    live.value = liveFeed
    let metrics = LedgerMetrics(registry: configuration.metrics)
    metrics.setPoolSize(configuration.database.options.maximumConnections)
    var api = LedgerAPI(store: store, keys: KeyCache(keys: KeyStore(client: client, logger: logger)), metrics: metrics, reads: reads)
    api.readsOnReplica = configuration.replica != nil
    api.probeClient = probe
    api.live = liveFeed
    if let keyring = configuration.sealKeys {
        // The seal service's key signs proofs' stream heads (read per proof: a rotation applies at once).
        let integrity = Integrity(client: client, logger: logger)
        api.proofSigner = { try await integrity.signer(from: keyring) }
    }
    services += [
        SealService(client: client, interval: configuration.sealInterval, keyring: configuration.sealKeys, logger: logger),
        ProjectionService(client: client, logger: logger), liveFeed,
    ]
    let (host, port, banner) = (configuration.host, configuration.port, configuration.banner)
    let idle = configuration.idleTimeout.components
    return Application(
        router: api.buildRouter(),
        server: .http1(configuration: .init(idleTimeout: .nanoseconds(idle.seconds * 1_000_000_000 + idle.attoseconds / 1_000_000_000))),
        configuration: .init(
            address: .hostname(host, port: port), serverName: "placementd",
            availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections)),
        services: services,
        onServerRunning: { channel in
            logger.info("placementd is serving", metadata: ["http.address": "\(channel.localAddress.map { "\($0)" } ?? "\(host):\(port)")"])
            // Unbuffered: a pipe would hold a print until the daemon exits.
            if let banner { FileHandle.standardOutput.write(Data((banner + "\n").utf8)) }
        },
        logger: logger)
}

/// A reference set once after it is made (for a closure that must exist before its target).
final class LateBound<T: Sendable>: Sendable {
    private let storage = Mutex<T?>(nil)
    var value: T? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
