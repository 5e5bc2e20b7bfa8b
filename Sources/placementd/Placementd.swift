import ArgumentParser
import Foundation
import LedgerCore
import LedgerHTTP
import LedgerProjections
import LedgerStore
import Logging
import Metrics
import Prometheus
import PostgresNIO
import ServiceLifecycle

@main
struct Placementd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placementd",
        abstract: "The Placement Ledger daemon: the HTTP API over the event log.",
        discussion: """
            Opens the ledger (with no database URL: the embedded PostgreSQL cluster in --data-dir, created on first \
            use and stopped when the daemon stops), applies migrations, prepares the read models (creates them, or \
            builds them from the log while serving when their version changed; appends write them in their own \
            transactions), serves the HTTP API on --listen and seals new events periodically. SIGTERM or SIGINT \
            drains in-flight requests and stops cleanly (whatever is still running after 20 s is cancelled).
            """)

    @Option(name: .customLong("database-url"), help: ArgumentHelp("PostgreSQL URL (default: $PLACEMENT_DATABASE_URL, else the embedded cluster). Several hosts, postgres://user:pw@host1:5432,host2:5432/db, make the daemon use and follow the one that accepts writes.", valueName: "url"))
    var databaseURL: String?

    @Option(
        name: .customLong("replica-url"),
        help: ArgumentHelp(
            "A PostgreSQL streaming replica of that database to serve report, list and posting reads from (default: $PLACEMENT_REPLICA_URL, else the primary). Appends, the feed and streams stay on the primary; min_position waits for the replica.",
            valueName: "url"))
    var replicaURL: String?

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("Directory of the embedded cluster (default: $PLACEMENT_DATA_DIR or ./.placement-data).", valueName: "dir"))
    var dataDirectory: String?

    @Option(help: ArgumentHelp("Address to serve on, host:port (default: $PLACEMENT_LISTEN or 127.0.0.1:8080).", valueName: "host:port"))
    var listen: String?

    @Option(help: ArgumentHelp("Close a client connection that sends nothing for this many seconds (default: $PLACEMENT_IDLE_TIMEOUT or 30).", valueName: "seconds"))
    var idleTimeout: Int?

    @Option(help: ArgumentHelp("Serve at most this many client connections at once; more wait until one closes (default: $PLACEMENT_MAX_CONNECTIONS or 4096; lowered to fit the file-descriptor limit).", valueName: "n"))
    var maxConnections: Int?

    @Flag(help: "Demo mode, on the embedded cluster only: load a demo history when the ledger is empty, create one key per role and print them with example curl lines.")
    var demo = false

    @Option(help: "Postings in the demo history.")
    var demoPostings = 200

    @Option(help: "Seconds between seals.")
    var sealInterval = 60

    @Option(
        name: .customLong("seal-keys"),
        help: ArgumentHelp(
            "Directory of the seal signing keys' private halves (default: $PLACEMENT_SEAL_KEYS, else seal-keys in the embedded cluster's data directory, where a key is made on first start).",
            valueName: "dir"))
    var sealKeys: String?

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical (default: $PLACEMENT_LOG_LEVEL or info).", valueName: "level"))
    var logLevel: String?

    @Option(help: ArgumentHelp("Log format: text or json (default: $PLACEMENT_LOG_FORMAT or text).", valueName: "format"))
    var logFormat: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    func validate() throws {
        if let level = logLevel ?? environment["PLACEMENT_LOG_LEVEL"], Logger.Level(rawValue: level) == nil {
            throw ValidationError("log level \(level) is not one of trace, debug, info, notice, warning, error, critical")
        }
        if let format = logFormat ?? environment["PLACEMENT_LOG_FORMAT"], format != "text", format != "json" {
            throw ValidationError("log format \(format) is not text or json")
        }
        _ = try listenAddress()
        if let url = replicaURL ?? environment["PLACEMENT_REPLICA_URL"] {
            do { _ = try DatabaseEndpoint.parse(url: url) } catch { throw ValidationError("replica URL: \(error.message)") }
        }
        guard try idleTimeoutSeconds() >= 1 else { throw ValidationError("--idle-timeout must be at least 1 second") }
        guard try connectionLimit() >= 16 else { throw ValidationError("--max-connections must be at least 16") }
        guard sealInterval >= 1 else { throw ValidationError("--seal-interval must be at least 1 second") }
        guard demoPostings >= 1 else { throw ValidationError("--demo-postings must be at least 1") }
        // Demo mode writes a made-up history and creates keys of every role: never into a real ledger.
        if demo, databaseURL ?? environment["PLACEMENT_DATABASE_URL"] != nil {
            throw ValidationError(
                "--demo runs on the embedded cluster only (it loads a made-up history and creates keys of every role); unset PLACEMENT_DATABASE_URL and drop --database-url, or drop --demo")
        }
    }

    func idleTimeoutSeconds() throws -> Int {
        if let idleTimeout { return idleTimeout }
        guard let text = environment["PLACEMENT_IDLE_TIMEOUT"] else { return 30 }
        guard let value = Int(text) else { throw ValidationError("PLACEMENT_IDLE_TIMEOUT \(text) is not a number of seconds") }
        return value
    }

    func connectionLimit() throws -> Int {
        if let maxConnections { return maxConnections }
        guard let text = environment["PLACEMENT_MAX_CONNECTIONS"] else { return 4096 }
        guard let value = Int(text) else { throw ValidationError("PLACEMENT_MAX_CONNECTIONS \(text) is not a number") }
        return value
    }

    func listenAddress() throws -> (host: String, port: Int) {
        let text = listen ?? environment["PLACEMENT_LISTEN"] ?? "127.0.0.1:8080"
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port),
            colon > text.startIndex
        else {
            throw ValidationError("listen address \(text) must be host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
        }
        return (String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    func run() async throws {
        let level = (logLevel ?? environment["PLACEMENT_LOG_LEVEL"]).flatMap(Logger.Level.init(rawValue:)) ?? .info
        let json = (logFormat ?? environment["PLACEMENT_LOG_FORMAT"]) == "json"
        LoggingSystem.bootstrap { label in
            if json { return JSONLogHandler(label: label, level: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "placementd")
        let (host, port) = try listenAddress()
        let location = DatabaseLocation.resolve(databaseURL: databaseURL, dataDirectory: dataDirectory, environment: environment)
        let database: LedgerDatabase
        do {
            database = try await LedgerDatabase.open(location, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("placementd: cannot open the ledger: \(describe(error))\n".utf8))
            throw ExitCode(2)
        }
        defer { database.close() }

        var banner: String?
        if demo {
            let postings = demoPostings
            banner = try await database.withClient(logger: logger) { client in
                try await DemoSetup.prepare(client: client, postings: postings, baseURL: "http://\(host.contains(":") ? "[\(host)]" : host):\(port)", logger: logger)
            }
        }

        // The embedded default signs its seals with a key of its own, made on first start.
        let keyring = location.sealKeyring(explicit: sealKeys, environment: environment)
        if case .embedded = location, let keyring {
            try await database.withClient(logger: logger) { owner in
                let integrity = Integrity(client: owner, logger: logger)
                if (try? await integrity.signer(from: keyring)) == nil {
                    let key = try await keyring.create(owner: owner, logger: logger)
                    logger.info("made a seal signing key", metadata: ["ledger.seal_key": "\(key.id)", "ledger.seal_keys": "\(keyring.directory)"])
                }
            }
        }

        if demo, let keyring {
            // The demo's history is sealed before serving, so its placements' proofs can be fetched
            // at once rather than after the first --seal-interval.
            do {
                try await database.withClient(logger: logger) { owner in
                    let integrity = Integrity(client: owner, logger: logger)
                    _ = try await integrity.seal(signer: try await integrity.signer(from: keyring))
                }
            } catch let error as SealKeyError {
                logger.warning("the demo history is not sealed yet", metadata: ["ledger.error": "\(error.message)"])
            }
        }

        var configuration = DaemonConfiguration(
            database: database.appConfiguration.clientConfiguration, host: host, port: port, sealInterval: .seconds(sealInterval),
            banner: banner)
        configuration.sealKeys = keyring
        configuration.failoverHosts = database.hosts
        if let hosts = database.hosts {
            logger.info(
                "following the database host that accepts writes",
                metadata: ["ledger.database_host": "\(hosts.endpoints[hosts.current].summary)", "ledger.hosts": "\(hosts.endpoints.count)"])
        }
        configuration.idleTimeout = .seconds(try idleTimeoutSeconds())
        configuration.maxConnections = FileDescriptors.fit(connections: try connectionLimit(), logger: logger)
        if let url = replicaURL ?? environment["PLACEMENT_REPLICA_URL"] {
            let endpoint = try DatabaseEndpoint.parse(url: url)
            configuration.replica = endpoint.clientConfiguration
            logger.info("serving projection reads from a replica", metadata: ["ledger.replica": "\(endpoint.summary)"])
        }
        // swift-metrics for the libraries (Hummingbird's request metrics), into the registry /metrics shows.
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: configuration.metrics))
        let app = buildApplication(configuration, logger: logger)
        var group = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // SIGTERM drains: the server stops accepting, in-flight requests finish (a group transaction
        // is given up after 15 s), then the pools close. Past these bounds whatever is stuck is
        // cancelled, then abandoned, so a stop never waits for ever and the cluster is stopped cleanly.
        group.maximumGracefulShutdownDuration = .seconds(20)
        group.maximumCancellationDuration = .seconds(5)
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            logger.critical("placementd failed: \(describe(error))")
            throw ExitCode(1)
        }
        logger.info("placementd stopped")
    }
}
