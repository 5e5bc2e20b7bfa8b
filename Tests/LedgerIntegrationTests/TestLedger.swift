import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import Logging
import PostgresNIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One throwaway PostgreSQL cluster per test run, started with the same embedded-cluster code the
/// daemon uses (non-durable settings for speed), and one fresh database per test.
actor TestCluster {
    static let shared = TestCluster()
    static let logger: Logger = {
        var logger = Logger(label: "tests")
        logger.logLevel = .error
        return logger
    }()

    private var handle: EmbeddedCluster.Handle?
    private var counter = 0

    func cluster() async throws -> EmbeddedCluster {
        if let handle { return handle.cluster }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("placement-tests-\(getpid())").path
        // 36 suites run in parallel, each test with a pool of up to 20 connections (rebuilds take
        // three, two-daemon tests two pools): 200 ran out in one fresh-clone run.
        let cluster = try EmbeddedCluster(dataDirectory: directory, durable: false, maxConnections: 500)
        let started = try await onOwnThread { try cluster.start(logger: TestCluster.logger) }
        handle = started
        testClusterAtExit = (started, directory)
        atexit {
            if let (handle, directory) = testClusterAtExit {
                handle.release()
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        return cluster
    }

    /// A new, migrated ledger database. Set up one at a time: roles are cluster-wide, and concurrent
    /// changes to one role conflict.
    func newLedger() async throws -> (DatabaseEndpoint, DatabaseEndpoint, LedgerDatabase) {
        let (owner, app) = try await newDatabase()
        do {
            let database = try await LedgerDatabase.open(owner: owner, app: app, enableAppLogin: true, logger: Self.logger)
            return (owner, app, database)
        } catch let error as PSQLError {
            throw TestDatabaseFailure(description: describe(error))
        }
    }

    /// A new, empty database in the cluster: (owner endpoint, app-role endpoint).
    func newDatabase() async throws -> (owner: DatabaseEndpoint, app: DatabaseEndpoint) {
        let cluster = try await cluster()
        counter += 1
        let name = "test_\(counter)"
        var admin = DatabaseEndpoint.embedded(cluster, user: EmbeddedCluster.ownerUser)
        admin.database = "postgres"
        try await LedgerDatabase.withConnection(admin, logger: Self.logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: Self.logger)
        }
        var owner = DatabaseEndpoint.embedded(cluster, user: EmbeddedCluster.ownerUser)
        owner.database = name
        var app = DatabaseEndpoint.embedded(cluster, user: EmbeddedCluster.appUser)
        app.database = name
        return (owner, app)
    }
}

struct TestDatabaseFailure: Error, CustomStringConvertible {
    var description: String
}

nonisolated(unsafe) private var testClusterAtExit: (EmbeddedCluster.Handle, String)?

/// A migrated ledger in its own database; the store works as the daemon's role.
struct TestLedger: Sendable {
    var database: LedgerDatabase
    var store: EventStore
    var owner: DatabaseEndpoint
    var app: DatabaseEndpoint

    static func with(_ body: @Sendable (TestLedger) async throws -> Void) async throws {
        let (owner, app, database) = try await TestCluster.shared.newLedger()
        do {
            try await database.withClient(owner: false, logger: TestCluster.logger) { client in
                let ledger = TestLedger(
                    database: database, store: EventStore(client: client, logger: TestCluster.logger, readModels: InlineProjections()), owner: owner,
                    app: app)
                // As the daemon does when it starts: the projections exist and the appends write them.
                try await ledger.runner.prepare()
                try await body(ledger)
            }
        } catch let error as PSQLError {
            throw TestDatabaseFailure(description: describe(error))
        }
    }

    /// Reads the feed until it holds `count` events after `position` (other tests' open
    /// transactions in the same cluster hold the gap-free horizon back for a moment).
    func feed(after position: Int64, count: Int, timeout: Duration = .seconds(20)) async throws -> [RecordedEvent] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let events = try await store.feed(after: position, limit: 1000)
            if events.count >= count || ContinuousClock.now > deadline { return events }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    var runner: ProjectionRunner { ProjectionRunner(client: store.client, logger: TestCluster.logger) }

    /// The ledger's proof secret, as the daemon reads it.
    func proofKey() async throws -> ProofKey {
        try await asApp { try await ProofKey.load(on: $0, logger: TestCluster.logger) }
    }

    /// Runs raw SQL as the database owner (a superuser in the embedded cluster).
    func asOwner<R: Sendable>(_ body: (PostgresConnection) async throws -> R) async throws -> R {
        try await LedgerDatabase.withConnection(owner, logger: TestCluster.logger, body)
    }

    func asApp<R: Sendable>(_ body: (PostgresConnection) async throws -> R) async throws -> R {
        try await LedgerDatabase.withConnection(app, logger: TestCluster.logger, body)
    }

    func count(_ sql: String = "SELECT count(*) FROM events") async throws -> Int64 {
        try await asOwner { connection in
            var n: Int64 = 0
            for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestCluster.logger).decode(Int64.self) {
                n = value
            }
            return n
        }
    }

    /// The first column of the first row as text ("" for none or null).
    func text(_ sql: String) async throws -> String {
        try await asOwner { connection in
            for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestCluster.logger).decode(String?.self) {
                return value ?? ""
            }
            return ""
        }
    }

    func exec(_ sql: String) async throws {
        try await asOwner { connection in
            for statement in sql.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) where !statement.isEmpty {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: TestCluster.logger)
            }
        }
    }

    var integrity: Integrity { Integrity(client: store.client, logger: TestCluster.logger) }

    /// The key the tests sign seals with (published in each ledger on its first seal).
    static let sealKey = SealSigningKey()

    /// `Integrity.seal` signed with `sealKey`.
    func seal() async throws -> Seal? {
        let key = Self.sealKey
        try await exec(
            "INSERT INTO seal_keys (key_id, public_key) VALUES ('\(key.id)', decode('\(Hex.encode(key.publicKey))', 'hex')) ON CONFLICT DO NOTHING")
        return try await integrity.seal(signer: key)
    }
}

/// Builds valid events tersely.
struct Events {
    var postingID: String
    var clock = Timestamp(rfc3339: "2026-03-01T09:00:00Z")!

    init(_ postingID: String) { self.postingID = postingID }

    mutating func make(_ data: EventData, expectedVersion: Int64? = nil, id: String = UUID().uuidString.lowercased()) -> Event {
        clock = clock.adding(seconds: 60)
        return Event(id: id, postingID: postingID, occurredAt: clock, expectedVersion: expectedVersion, actor: "test", data: data)
    }

    mutating func posted(company: String = "c-1", openings: Int64 = 2, stipend: Stipend = .fixed(amountMinor: 50_000, currency: "USD")) -> Event {
        make(.posted(companyID: company, title: "Project", openings: openings, stipend: stipend))
    }

    mutating func applied(_ student: String, university: String = "u-1") -> Event {
        make(.applied(studentID: student, universityID: university))
    }

    mutating func selected(_ student: String) -> Event { make(.selected(studentID: student)) }

    mutating func paid(_ student: String, _ amount: Int64, ref: String, currency: String = "USD") -> Event {
        make(.paid(studentID: student, amountMinor: amount, currency: currency, paymentRef: ref, method: nil))
    }

    /// posted, applied and selected for `student`.
    mutating func placement(_ student: String, company: String = "c-1") -> [Event] {
        [posted(company: company), applied(student), selected(student)]
    }
}

extension LedgerError {
    static func code(_ error: any Error) -> ErrorCode? { (error as? LedgerError)?.code }
}

func sqlState(_ error: any Error) -> String? {
    (error as? PSQLError)?.serverInfo?[.sqlState]
}

/// Runs `body`, then `cleanup` (which waits for pg_ctl) on a thread of its own, whether `body`
/// threw or not: a `defer` would block one of the two cooperative threads, and with it every
/// task of the test process.
func afterwards<R>(offPool cleanup: @escaping @Sendable () -> Void, _ body: () async throws -> R) async throws -> R {
    let result: Result<R, any Error>
    do { result = .success(try await body()) } catch { result = .failure(error) }
    _ = try? await onOwnThread(cleanup)
    return try result.get()
}
