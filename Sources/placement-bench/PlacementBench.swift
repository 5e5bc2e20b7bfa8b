import ArgumentParser
import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import Logging
import NIOCore
import PostgresNIO

@main
struct PlacementBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement-bench",
        abstract: "Measures Placement Ledger against the spec's performance bars, beside raw PostgreSQL doing the same work.",
        discussion: """
            Starts its own PostgreSQL (the embedded cluster, durable settings, in a fresh directory) or uses \
            --database-url, starts the real placementd (built next to this program) and drives it over real HTTP. \
            In the same run, on the same server with the same durability settings, it measures the raw baseline: \
            pgbench single-row and 100-row INSERT transactions into a table equivalent to `events`, and COPY of \
            the imported rows. Prints a table (workload, ours, raw, ratio, bar, result) and writes it as JSON with \
            --json. Numbers are reported, never enforced: the exit status is 0 unless the benchmark itself failed.

            Workloads: appends (single-event POST /v1/events, closed loop), batches (100-event POSTs), lag (open \
            loop at --lag-rate events/s; lag is append acknowledgement → the position the read models report \
            covering it: the read models are written in the append's transaction, so it measures how long an older \
            open transaction holds the gap-free position back), import (placementctl import of --events events, \
            read models included), catchup (only when the import found no attached read models: the daemon builds \
            them at start), rebuild (each projection rebuilt from position 0, and how long the swap held appends), \
            seal (the first seal of the whole log: placementctl seal), proof (GET .../proof for sealed placements \
            spread over the log, one client), queries (dashboard and list routes at that size). For an A/B of appends under wrk against another \
            build, see bench/ab/run.sh.
            """)

    @Flag(help: "A run that finishes in under a minute: 3 s phases, 50,000 imported events.")
    var quick = false

    @Option(name: .customLong("database-url"), help: ArgumentHelp("Use this PostgreSQL (the database must be empty or a ledger; needs CREATE for the baseline tables) instead of a fresh embedded cluster.", valueName: "url"))
    var databaseURL: String?

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("Directory for the embedded cluster (default: a fresh directory under /tmp, removed afterwards).", valueName: "dir"))
    var dataDirectory: String?

    @Option(help: "Seconds per timed phase (default 20; --quick 3).")
    var duration: Int?

    @Option(help: ArgumentHelp("Concurrent clients for single-event appends; a comma-separated list runs each (e.g. 1,8,32,128).", valueName: "n,..."))
    var appendClients = "32"

    @Option(help: "Concurrent clients sending 100-event batches.")
    var batchClients = 32

    @Option(help: "Events per batch.")
    var batchSize = 100

    @Option(help: "Appends per second for the lag workload.")
    var lagRate = 1000

    @Option(help: "Events to import, rebuild and query at (default 1000000; --quick 50000).")
    var events: Int?

    @Option(
        help: ArgumentHelp(
            "Concurrent clients for the query workload; a comma-separated list runs each. 1 is a dashboard user's latency on a quiet server, 4 saturate both cores here.",
            valueName: "n,..."))
    var queryClients = "1,4"

    @Option(help: ArgumentHelp("Workloads to run (comma-separated): appends, batches, lag, import, rebuild, seal, proof, queries, history (reports of the ledger's history: statement, aging, as_of).", valueName: "list"))
    var workloads = "appends,batches,lag,import,rebuild,seal,proof,queries,history"

    @Option(help: ArgumentHelp("Also write the results as JSON to this file.", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Directory holding placementd and placementctl (default: next to this program; built if missing).", valueName: "dir"))
    var binDir: String?

    func validate() throws {
        let known: Set<String> = ["appends", "batches", "lag", "import", "rebuild", "seal", "proof", "queries", "history"]
        for name in selected where !known.contains(name) {
            throw ValidationError("unknown workload \(name): choose from \(known.sorted().joined(separator: ", "))")
        }
        guard !clientCounts.isEmpty, clientCounts.allSatisfy({ $0 >= 1 && $0 <= 1000 }) else {
            throw ValidationError("--append-clients takes numbers between 1 and 1000, e.g. 1,8,32,128")
        }
        guard !queryClientCounts.isEmpty, queryClientCounts.allSatisfy({ $0 >= 1 && $0 <= 1000 }) else {
            throw ValidationError("--query-clients takes numbers between 1 and 1000, e.g. 1,4")
        }
        guard (duration ?? 1) >= 1, (events ?? 1000) >= 1000, batchClients >= 1, batchSize >= 1, batchSize <= BatchLimits.maxEvents,
            lagRate >= 1
        else { throw ValidationError("sizes must be positive (--events at least 1000, --batch-size at most \(BatchLimits.maxEvents))") }
    }

    var selected: [String] { workloads.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    var clientCounts: [Int] { Self.counts(appendClients) }
    var queryClientCounts: [Int] { Self.counts(queryClients) }

    /// A comma-separated list of client counts; empty when any entry is not a number.
    static func counts(_ list: String) -> [Int] {
        let counts = list.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return counts.contains(nil) ? [] : counts.compactMap { $0 }
    }
    var phase: Duration { .seconds(duration ?? (quick ? 3 : 20)) }
    var eventCount: Int { events ?? (quick ? 50_000 : 1_000_000) }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let bench = try await Bench.start(self)
        var report = Report(settings: settingsDescription)
        do {
            try await bench.runAll(self, into: &report)
        } catch {
            bench.shutdown()
            report.print()
            throw error
        }
        bench.shutdown()
        report.machine = bench.machine
        report.print()
        if let json {
            try report.json.write(toFile: json, atomically: true, encoding: .utf8)
            print("\nwrote \(json)")
        }
    }

    var settingsDescription: String {
        "phases \(Int(phase.seconds)) s, append clients \(appendClients), batches \(batchClients)×\(batchSize), lag at \(lagRate)/s, "
            + "\(eventCount) events imported, \(queryClients) query clients"
    }
}

/// The machine, the servers and the keys of one run.
final class Bench: Sendable {
    let database: LedgerDatabase
    let client: PostgresClient
    let clientTask: Task<Void, Never>
    let raw: RawPostgres
    let workDirectory: String
    let removeDataDirectory: String?
    let binaries: String
    let daemonArguments: [String]
    let keys: [Role: String]
    let logger = Logger(label: "placement-bench")
    let machine: [String: String]

    init(
        database: LedgerDatabase, client: PostgresClient, clientTask: Task<Void, Never>, raw: RawPostgres, workDirectory: String,
        removeDataDirectory: String?, binaries: String, daemonArguments: [String], keys: [Role: String], machine: [String: String]
    ) {
        self.database = database
        self.client = client
        self.clientTask = clientTask
        self.raw = raw
        self.workDirectory = workDirectory
        self.removeDataDirectory = removeDataDirectory
        self.binaries = binaries
        self.daemonArguments = daemonArguments
        self.keys = keys
        self.machine = machine
    }

    static func start(_ options: PlacementBench) async throws -> Bench {
        let logger = Logger(label: "placement-bench")
        let binaries = try locateBinaries(options.binDir)
        let work = "/tmp/placement-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        chmod(work, 0o777)  // pgbench and psql run as the postgres user when we are root

        let location: DatabaseLocation
        var removeDataDirectory: String?
        var daemonArguments: [String]
        if let url = options.databaseURL {
            location = .url(url)
            daemonArguments = ["--database-url", url]
        } else {
            let directory = options.dataDirectory ?? work + "/data"
            if options.dataDirectory == nil { removeDataDirectory = directory }
            location = .embedded(dataDirectory: directory)
            daemonArguments = ["--data-dir", directory]
        }
        print("placement-bench: starting PostgreSQL (\(options.databaseURL == nil ? "embedded, durable" : "external"))…")
        let database = try await LedgerDatabase.open(location, durable: true, logger: logger)
        // As in `LedgerDatabase.withClient`: the pool warns when a lease comes before run() has
        // started, which is only a race of startup.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        let client = PostgresClient(configuration: database.ownerConfiguration.clientConfiguration, backgroundLogger: background)
        let clientTask = Task { await client.run() }
        let raw = RawPostgres(
            cluster: database.embeddedCluster, url: options.databaseURL, binDirectory: try EmbeddedCluster.binaryDirectory())

        let store = KeyStore(client: client, logger: logger)
        var keys: [Role: String] = [:]
        keys[.platform] = try await store.create(role: .platform, orgID: nil, label: "bench").secret
        keys[.admin] = try await store.create(role: .admin, orgID: nil, label: "bench").secret
        keys[.company] = try await store.create(role: .company, orgID: Bench.company, label: "bench").secret
        keys[.university] = try await store.create(role: .university, orgID: Bench.university, label: "bench").secret

        var machine: [String: String] = [
            "cores": String(ProcessInfo.processInfo.activeProcessorCount),
            "memory_gib": String(ProcessInfo.processInfo.physicalMemory >> 30),
            "date": ISO8601DateFormatter().string(from: Date()),
        ]
        if let cpu = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let model = cpu.split(separator: "\n").first(where: { $0.hasPrefix("model name") })
        {
            machine["cpu"] = model.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        for setting in ["server_version", "fsync", "synchronous_commit", "wal_level", "shared_buffers"] {
            for try await value in try await client.query(PostgresQuery(unsafeSQL: "SHOW \(setting)"), logger: logger).decode(String.self) {
                machine["postgres_" + setting] = value
            }
        }
        return Bench(
            database: database, client: client, clientTask: clientTask, raw: raw, workDirectory: work,
            removeDataDirectory: removeDataDirectory, binaries: binaries, daemonArguments: daemonArguments, keys: keys, machine: machine)
    }

    static let company = "c-acme"
    static let university = "u-mit"

    /// placementd and placementctl: next to this program (the same build), built there if missing.
    static func locateBinaries(_ explicit: String?) throws -> String {
        let fm = FileManager.default
        let directory = explicit ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let missing = ["placementd", "placementctl"].filter { !fm.isExecutableFile(atPath: directory + "/" + $0) }
        if missing.isEmpty { return directory }
        guard explicit == nil else { throw LoadError("\(missing.joined(separator: " and ")) not found in \(directory)") }
        let configuration = URL(fileURLWithPath: directory).lastPathComponent == "debug" ? "debug" : "release"
        for product in missing {
            print("placement-bench: building \(product) (swift build -c \(configuration) --product \(product))…")
            guard let swift = ["/usr/bin/swift", "/opt/swift/usr/bin/swift"].first(where: fm.isExecutableFile(atPath:))
                ?? (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map({ "\($0)/swift" }).first(where: fm.isExecutableFile(atPath:))
            else { throw LoadError("\(product) is missing and swift is not on PATH: build it with swift build -c release --product \(product)") }
            try runChecked([swift, "build", "-c", configuration, "--product", product])
        }
        return directory
    }

    func shutdown() {
        clientTask.cancel()
        database.close()
        if let removeDataDirectory { try? FileManager.default.removeItem(atPath: removeDataDirectory) }
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    // MARK: The daemon

    func startDaemon() async throws -> (BackgroundProcess, HTTPLoad) {
        let port = try freeLoopbackPort()
        let process = try BackgroundProcess(
            // No periodic seals: the seal workload measures the first seal of the whole log.
            [binaries + "/placementd"] + daemonArguments + ["--listen", "127.0.0.1:\(port)", "--log-level", "warning", "--seal-interval", "86400"],
            logPath: workDirectory + "/placementd.log")
        let load = HTTPLoad(host: "127.0.0.1", port: port, authorization: keys[.platform]!)
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw LoadError("placementd exited:\n\(process.logTail)") }
            if let status = try? await load.withConnection({ send in try await send(LoadRequest(path: "/readyz")).status }), status == 200 {
                return (process, load)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.stop()
        throw LoadError("placementd did not become ready within 120 s:\n\(process.logTail)")
    }

    // MARK: Database helpers

    func scalar(_ sql: String) async throws -> Int64 {
        for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int64?.self) { return value ?? 0 }
        return 0
    }

    /// The position every projection reflects (inline: the gap-free position of the query's own
    /// snapshot) and the log's head.
    func projectionProgress() async throws -> (checkpoint: Int64, head: Int64) {
        let checkpoint = try await scalar(Self.reflectedQuery)
        let head = try await scalar("SELECT max(position) FROM events")
        return (checkpoint, head)
    }

    /// The position every projection reflects, as reads report it.
    static let reflectedQuery = "SELECT " + ProjectionRunner.positionColumn(ProjectionDefinition.all.map(\.name))

    /// Waits until every projection has caught up with the log (the baselines must not share the
    /// machine with projection work). Returns how long it took.
    @discardableResult
    func waitForProjections(timeout: Duration = .seconds(1800)) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        while true {
            let (checkpoint, head) = try await projectionProgress()
            if checkpoint >= head { return clock.now - start }
            guard clock.now - start < timeout else { throw LoadError("projections did not catch up within \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// A representative event data payload for the raw rows (the median size of demo events).
    static let typicalData: String = {
        let sizes = DemoHistory(postings: 50, seed: 1).prefix(1000).map { $0.data.json.canonicalString }.sorted { $0.utf8.count < $1.utf8.count }
        return sizes[sizes.count / 2]
    }()
}

/// Events of one client, generated as it goes: a demo history of its own postings, so every
/// request is valid in order and clients never touch each other's postings.
final class ClientHistories: Sendable {
    private let iterators: [Shared<DemoHistory.Iterator>]

    init(clients: Int, run: String, postingsPerClient: Int = 1_000_000) {
        iterators = (0..<clients).map { client in
            var history = DemoHistory(postings: postingsPerClient, seed: UInt64.random(in: 1...UInt64.max))
            history.postingPrefix = "b\(run)c\(client)-"
            return Shared(history.makeIterator())
        }
    }

    func next(_ client: Int) -> Event? { iterators[client].withLock { $0.next() } }

    func next(_ client: Int, count: Int) -> [Event] {
        iterators[client].withLock { iterator in (0..<count).compactMap { _ in iterator.next() } }
    }
}

/// A value shared between tasks behind a lock.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    var value: Value { withLock { $0 } }
}

import Synchronization

extension LoadRequest {
    static func append(_ events: [Event]) -> LoadRequest {
        let body: JSON = events.count == 1 ? events[0].json : .array(events.map(\.json))
        return LoadRequest(method: .POST, path: "/v1/events", body: ByteBuffer(string: body.canonicalString), events: events.count)
    }
}
