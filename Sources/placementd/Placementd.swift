import ArgumentParser
import Foundation
import LedgerCore
import LedgerStore
import Logging
import PostgresNIO
import ServiceLifecycle

@main
struct Placementd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placementd",
        abstract: "The Placement Ledger daemon.",
        discussion: """
            Opens the ledger (with no database URL: the embedded PostgreSQL cluster in --data-dir, created on first \
            use and stopped when the daemon stops), applies migrations, and runs until SIGTERM or SIGINT, sealing new \
            events periodically.
            """)

    @Option(name: .customLong("database-url"), help: ArgumentHelp("PostgreSQL URL (default: $PLACEMENT_DATABASE_URL, else the embedded cluster).", valueName: "url"))
    var databaseURL: String?

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("Directory of the embedded cluster (default: $PLACEMENT_DATA_DIR or ./.placement-data).", valueName: "dir"))
    var dataDirectory: String?

    @Flag(help: "Demo mode: load a generated demo history when the ledger is empty.")
    var demo = false

    @Option(help: "Postings in the demo history.")
    var demoPostings = 200

    @Option(help: "Seconds between seals.")
    var sealInterval = 60

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical (default: $PLACEMENT_LOG_LEVEL or info).", valueName: "level"))
    var logLevel: String?

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard sealInterval >= 1 else { throw ValidationError("--seal-interval must be at least 1 second") }
        guard demoPostings >= 1 else { throw ValidationError("--demo-postings must be at least 1") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let level = (logLevel ?? environment["PLACEMENT_LOG_LEVEL"]).flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "placementd")
        let location = DatabaseLocation.resolve(databaseURL: databaseURL, dataDirectory: dataDirectory, environment: environment)
        let database: LedgerDatabase
        do {
            database = try await LedgerDatabase.open(location, logger: logger)
        } catch {
            logger.critical("cannot open the ledger: \(describe(error))")
            throw ExitCode(2)
        }
        defer { database.close() }
        let client = PostgresClient(configuration: database.appConfiguration.clientConfiguration, backgroundLogger: logger)
        let store = EventStore(client: client, logger: logger)
        let demo = demo, demoPostings = demoPostings
        let services: [any Service] = [
            client,
            SealService(client: client, interval: .seconds(sealInterval), logger: logger),
        ]
        let group = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            if demo {
                try await loadDemo(store: store, postings: demoPostings, logger: logger)
            }
            logger.info("placementd is running; stop it with Ctrl-C or SIGTERM")
            try await tasks.waitForAll()
        }
        logger.info("placementd stopped")
    }

    func loadDemo(store: EventStore, postings: Int, logger: Logger) async throws {
        let status = try await LedgerStatus.read(store.client, logger: logger)
        guard status.events == 0 else {
            logger.info("demo mode: the ledger already has events; not loading demo history", metadata: ["ledger.events": "\(status.events)"])
            return
        }
        let history = DemoHistory(postings: postings)
        let report = try await Importer(store: store).run(history.enumerated().lazy.map { ($0.offset + 1, .success($0.element)) })
        logger.info("demo mode: loaded demo history", metadata: ["ledger.events": "\(report.progress.imported)"])
    }
}
