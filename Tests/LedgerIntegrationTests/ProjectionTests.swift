import Foundation
import LedgerCore
import LedgerStore
import Logging
import PostgresNIO
import Testing

extension TestLedger {
    var runner: ProjectionRunner { ProjectionRunner(client: store.client, logger: TestCluster.logger, localAppends: store.appended) }

    /// Every row of every table of a projection's live schema, as text, in order.
    func dump(_ definition: ProjectionDefinition) async throws -> [String: [String]] {
        try await asOwner { connection in
            var tables: [String] = []
            for try await name in try await connection.query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = \(definition.liveSchema) ORDER BY 1",
                logger: TestCluster.logger
            ).decode(String.self) { tables.append(name) }
            var result: [String: [String]] = [:]
            for table in tables {
                var rows: [String] = []
                for try await row in try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT t::text FROM \(definition.liveSchema).\(table) t ORDER BY 1"), logger: TestCluster.logger
                ).decode(String.self) { rows.append(row) }
                result[table] = rows
            }
            return result
        }
    }

    /// Appends events concurrently from `writers` tasks, each owning some postings (so every
    /// stream's order is kept while transactions interleave and commit out of position order).
    func appendConcurrently(_ events: [Event], writers: Int = 4, batch: Int = 7) async throws {
        var byPosting: [String: [Event]] = [:]
        var order: [String] = []
        for event in events {
            if byPosting[event.postingID] == nil { order.append(event.postingID) }
            byPosting[event.postingID, default: []].append(event)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                let mine = order.enumerated().filter { $0.offset % writers == w }.flatMap { byPosting[$0.element]! }
                group.addTask {
                    var i = 0
                    while i < mine.count {
                        let chunk = Array(mine[i..<min(i + batch, mine.count)])
                        _ = try await store.append(chunk)
                        i += batch
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Runs the live workers (as the daemon does) while `body` runs.
    func withLiveProjections<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) async throws -> R {
        try await runner.prepare()
        return try await withThrowingTaskGroup(of: R?.self) { group in
            for definition in ProjectionDefinition.all {
                group.addTask {
                    await runner.runLive(definition, poll: .milliseconds(100), leaseRetry: .milliseconds(200))
                    return nil
                }
            }
            group.addTask { try await body() }
            defer { group.cancelAll() }
            while let value = try await group.next() {
                if let value { return value }
            }
            throw CancellationError()
        }
    }

    func serverNow() async throws -> Timestamp {
        try await asOwner { connection in
            for try await micros in try await connection.query(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8", logger: TestCluster.logger
            ).decode(Int64.self) { return Timestamp(microseconds: micros) }
            throw CancellationError()
        }
    }
}

@Suite("Projections")
struct ProjectionTests {
    static let logger = TestCluster.logger

    @Test("after a random concurrent history, a rebuild from position 0 equals the live projections row for row")
    func rebuildEqualsLive() async throws {
        try await TestLedger.with { ledger in
            let events = Array(DemoHistory(postings: 60, seed: UInt64.random(in: 1...1_000_000)))
            try await ledger.withLiveProjections {
                try await ledger.appendConcurrently(events)
                _ = try await ledger.catchUpAll()
            }
            _ = try await ledger.catchUpAll()
            let statuses = try await ledger.runner.status()
            #expect(statuses.map(\.events).allSatisfy { $0 == Int64(events.count) }, "\(statuses.map(\.events)) vs \(events.count)")
            for definition in ProjectionDefinition.all {
                let live = try await ledger.dump(definition)
                #expect(!(live["state"] ?? []).isEmpty)
                let result = try await ledger.runner.rebuild(definition)
                #expect(result.events == Int64(events.count))
                let rebuilt = try await ledger.dump(definition)
                #expect(rebuilt.keys.sorted() == live.keys.sorted())
                for table in live.keys.sorted() {
                    Self.expectSame(rebuilt[table] ?? [], live[table] ?? [], "\(definition.liveSchema).\(table)")
                }
            }
            let placements = try await ledger.count("SELECT count(*) FROM proj_placements.placements")
            #expect(placements > 0)
        }
    }

    @Test("a rebuild leaves the old tables serving until the swap, then the live worker goes on from the rebuilt checkpoint")
    func rebuildWhileServing() async throws {
        try await TestLedger.with { ledger in
            let events = Array(DemoHistory(postings: 20, seed: 7))
            let half = events.count / 2
            try await ledger.withLiveProjections {
                try await ledger.appendConcurrently(Array(events[..<half]), writers: 1)
                _ = try await ledger.catchUpAll()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await ledger.appendConcurrently(Array(events[half...]), writers: 2) }
                    group.addTask { _ = try await ledger.runner.rebuild(.placements) }
                    try await group.waitForAll()
                }
                _ = try await ledger.catchUpAll()
            }
            let statuses = try await ledger.runner.status()
            for status in statuses {
                #expect(status.events == Int64(events.count), "\(status.name)")
                #expect(!status.rebuilding)
                #expect(status.lag == 0)
            }
            // And the result equals a fresh rebuild.
            let live = try await ledger.dump(.placements)
            _ = try await ledger.runner.rebuild(.placements)
            let rebuilt = try await ledger.dump(.placements)
            for table in live.keys.sorted() { Self.expectSame(rebuilt[table] ?? [], live[table] ?? [], table) }
        }
    }

    @Test("a second rebuild of the same projection at once is refused with a clear error")
    func concurrentRebuildRefused() async throws {
        try await TestLedger.with { ledger in
            try await ledger.runner.prepare()
            let lock = "placement:rebuild:postings"
            try await ledger.asOwner { holder in
                try await holder.query("SELECT pg_advisory_lock(hashtext(\(lock)))", logger: Self.logger)
                do {
                    _ = try await ledger.runner.rebuild(.postings)
                    Issue.record("a rebuild ran while another held the rebuild lock")
                } catch let error as ConfigurationError {
                    #expect(error.message.contains("already running"))
                }
            }
        }
    }

    @Test("--as-of and --position reports equal the live reports taken at that moment")
    func timeTravelEqualsLive() async throws {
        try await TestLedger.with { ledger in
            let events = Array(DemoHistory(postings: 30, seed: 11))
            let cut = events.count * 2 / 3
            try await ledger.appendConcurrently(Array(events[..<cut]), writers: 3)
            try await ledger.runner.prepare()
            let positions = try await ledger.catchUpAll()
            let moment = try await ledger.serverNow()
            let position = positions.values.min()!
            let before = try await Self.reports(ledger, model: ReadModel(logger: Self.logger))
            #expect(before.count > 5)

            try await Task.sleep(for: .milliseconds(20))
            try await ledger.appendConcurrently(Array(events[cut...]), writers: 3)
            _ = try await ledger.catchUpAll()
            let after = try await Self.reports(ledger, model: ReadModel(logger: Self.logger))
            #expect(after != before, "the later events changed nothing; the test would prove nothing")

            let asOf = try await ledger.runner.withBuild(upTo: .recordedBy(moment)) { model in
                try await Self.reports(ledger, model: model)
            }
            #expect(asOf == before)
            let atPosition = try await ledger.runner.withBuild(upTo: .position(position)) { model in
                try await Self.reports(ledger, model: model)
            }
            #expect(atPosition == before)
            // Throwaway schemas are gone.
            #expect(try await ledger.count("SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%asof%'") == 0)
        }
    }

    /// Every report, as canonical text, keyed by what it is.
    static func reports(_ ledger: TestLedger, model: ReadModel) async throws -> [String: String] {
        try await ledger.store.client.withConnection { connection in
            var out: [String: String] = [:]
            out["postings"] = JSON.array(try await model.allPostings(scope: .everything, on: connection)).canonicalString
            let page = try await model.placements(filter: .init(), scope: .everything, limit: 100_000, after: nil, on: connection)
            out["placements"] = JSON.array(page.rows.map(\.json)).canonicalString
            for university in try await model.universities(scope: .everything, on: connection) {
                out["university \(university)"] = try await model.universityReport(university, range: .init(), on: connection).canonicalString
            }
            for company in try await model.companies(scope: .everything, on: connection) {
                out["stipends \(company)"] = try await model.companyStipends(company, on: connection).canonicalString
            }
            out["payouts"] = try await model.payouts(range: .init(), companyID: nil, universityID: nil, scope: .everything, on: connection)
                .json.canonicalString
            return out
        }
    }

    @Test("two daemons on one database: each projection runs once, and the other takes over when the holder dies")
    func leaseTakeover() async throws {
        try await TestLedger.with { ledger in
            try await ledger.runner.prepare()
            let events = Array(DemoHistory(postings: 6, seed: 3))
            let half = events.count / 2
            @Sendable func leaseHolders() async throws -> Int64 {
                try await ledger.count(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
            }
            // Daemon A and daemon B, each with its own pool.
            try await ledger.database.withClient(owner: false, logger: Self.logger) { clientB in
                let runnerB = ProjectionRunner(client: clientB, logger: Self.logger)
                let daemonA = Task {
                    try await ledger.database.withClient(owner: false, logger: Self.logger) { clientA in
                        let runnerA = ProjectionRunner(client: clientA, logger: Self.logger)
                        await withDiscardingTaskGroup { group in
                            for d in ProjectionDefinition.all {
                                group.addTask { await runnerA.runLive(d, poll: .milliseconds(50), leaseRetry: .milliseconds(100)) }
                            }
                        }
                    }
                }
                // A takes both leases before B starts.
                try await Self.waitUntil { try await leaseHolders() == Int64(ProjectionDefinition.all.count) }
                let daemonB = Task {
                    await withDiscardingTaskGroup { group in
                        for d in ProjectionDefinition.all {
                            group.addTask { await runnerB.runLive(d, poll: .milliseconds(50), leaseRetry: .milliseconds(100)) }
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await leaseHolders() == Int64(ProjectionDefinition.all.count), "each projection's lease is held exactly once")
                try await ledger.appendConcurrently(Array(events[..<half]), writers: 1)
                try await Self.waitUntil { try await ledger.runner.status().allSatisfy { $0.events == Int64(half) } }

                // The holder dies (as a kill -9 looks to PostgreSQL: its sessions end): B takes over
                // and projects what comes next.
                let killed = try await ledger.count(
                    """
                    SELECT count(pg_terminate_backend(pid)) FROM pg_locks
                    WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """)
                #expect(killed == Int64(ProjectionDefinition.all.count))
                daemonA.cancel()
                try await ledger.appendConcurrently(Array(events[half...]), writers: 1)
                // B retries the leases every 100 ms; the rest is catching up, which other suites'
                // transactions on the shared cluster can hold back (10 s ran out in loaded runs).
                try await Self.waitUntil(timeout: .seconds(40)) {
                    try await ledger.runner.status().allSatisfy { $0.events == Int64(events.count) }
                }
                #expect(try await leaseHolders() == Int64(ProjectionDefinition.all.count))
                daemonB.cancel()
            }
        }
    }

    @Test("a worker that fails hands its lease back at once: another daemon takes over while it waits to retry")
    func failedWorkerReleasesLease() async throws {
        try await TestLedger.with { ledger in
            try await ledger.runner.prepare()
            let definition = ProjectionDefinition.postings
            var e = Events("p-lease")
            _ = try await ledger.store.append([e.posted()])
            let application = e.applied("s-1")
            try await ledger.database.withClient(owner: false, logger: Self.logger) { clientA in
                try await ledger.database.withClient(owner: false, logger: Self.logger) { clientB in
                    // A takes the lease first and, after an error, waits 60 s before trying again.
                    let daemonA = Task {
                        await ProjectionRunner(client: clientA, logger: Self.logger).runLive(definition, poll: .milliseconds(50), leaseRetry: .seconds(60))
                    }
                    try await Self.waitUntil { try await ledger.runner.status().first { $0.name == definition.name }?.events == 1 }
                    let daemonB = Task {
                        await ProjectionRunner(client: clientB, logger: Self.logger).runLive(definition, poll: .milliseconds(50), leaseRetry: .milliseconds(100))
                    }
                    // A's next batch fails (its schema is away for a moment)...
                    try await ledger.exec("ALTER SCHEMA \(definition.liveSchema) RENAME TO away")
                    _ = try await ledger.store.append([application])
                    try await Task.sleep(for: .milliseconds(500))
                    try await ledger.exec("ALTER SCHEMA away RENAME TO \(definition.liveSchema)")
                    // ...and B, not A sixty seconds later, projects the event.
                    try await Self.waitUntil(timeout: .seconds(10)) {
                        try await ledger.runner.status().first { $0.name == definition.name }?.events == 2
                    }
                    daemonA.cancel()
                    daemonB.cancel()
                }
            }
        }
    }

    @Test("a worker whose connection the server closed while it idled carries on (within its lease retry, or after the 15 s backstop)")
    func workerSurvivesTerminatedConnection() async throws {
        try await TestLedger.with { ledger in
            try await ledger.runner.prepare()
            let definition = ProjectionDefinition.postings
            var e = Events("p-terminated")
            _ = try await ledger.store.append([e.posted()])
            let application = e.applied("s-1")
            try await ledger.database.withClient(owner: false, logger: Self.logger) { client in
                let worker = Task {
                    await ProjectionRunner(client: client, logger: Self.logger, definitions: [definition])
                        .runLive(definition, poll: .milliseconds(50), leaseRetry: .milliseconds(200))
                }
                defer { worker.cancel() }
                try await Self.waitUntil { try await ledger.runner.status().first { $0.name == definition.name }?.events == 1 }
                // The server ends the idle worker's session (as a PostgreSQL restart does).
                let terminated = try await ledger.count(
                    """
                    SELECT count(pg_terminate_backend(pid)) FROM pg_locks
                    WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """)
                #expect(terminated == 1)
                try await Task.sleep(for: .milliseconds(300))
                _ = try await ledger.store.append([application])
                // PostgresNIO 1.33.2 waited for ever on the closed connection's next statement; the
                // worker now takes a new connection and the lease again. Mostly within the lease
                // retry (the closed connection is refused at once); when its next statement went
                // out before NIO saw the close, the 15 s `abandoning` backstop ends the wait.
                try await Self.waitUntil(timeout: .seconds(25)) {
                    try await ledger.runner.status().first { $0.name == definition.name }?.events == 2
                }
            }
        }
    }

    @Test("a statement on a connection the server closed fails as unavailable instead of waiting for ever")
    func statementOnClosedConnectionFails() async throws {
        try await TestLedger.with { ledger in
            try await ledger.asApp { connection in
                var pid: Int64 = 0
                for try await value in try await connection.run("SELECT pg_backend_pid()::int8", logger: Self.logger).decode(Int64.self) {
                    pid = value
                }
                _ = try await ledger.count("SELECT count(pg_terminate_backend(\(pid)))")
                try await Self.waitUntil(timeout: .seconds(5)) { connection.isClosed }
                // Before the fix the statement waited for ever: `abandoning` ends such a wait with
                // `Abandoned`, which is not the `LedgerError` expected here.
                await #expect(throws: LedgerError.self) {
                    try await abandoning(after: .seconds(10)) { try await connection.run("SELECT 1", logger: Self.logger) }
                }
            }
        }
    }

    @Test("another daemon's NOTIFY wakes an idle worker at once (its own poll is a minute away)")
    func notifyWakesWorker() async throws {
        try await TestLedger.with { ledger in
            try await ledger.runner.prepare()
            var e = Events("p-notify")
            let posted = e.posted()
            try await ledger.database.withClient(owner: false, logger: Self.logger) { client in
                let runner = ProjectionRunner(client: client, logger: Self.logger, definitions: [.postings])
                let listener = Task { await runner.listenForOthers() }
                let worker = Task { await runner.runLive(.postings, poll: .seconds(60), leaseRetry: .milliseconds(100)) }
                defer {
                    worker.cancel()
                    listener.cancel()
                }
                try await Self.waitUntil { try await ledger.count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'") >= 1 }
                try await Task.sleep(for: .milliseconds(300))  // the worker has found nothing to do and waits
                // Another process's append: no local wake-up; its NOTIFY carries its position (the
                // worker asks again until it has it: another suite's transaction on the shared
                // cluster may keep it out of the gap-free log for a moment).
                let appended = try await ledger.store.append([posted])
                try await ledger.exec("SELECT pg_notify('\(ProjectionEngine.channel)', '\(appended.events[0].position)')")
                try await Self.waitUntil(timeout: .seconds(5)) {
                    try await ledger.runner.status().first { $0.name == "postings" }?.events == 1
                }
            }
        }
    }

    @Test("an append the worker's batch could not take yet (an older transaction was running) is taken without another signal")
    func retriesUntilGapFree() async throws {
        try await TestLedger.with { ledger in
            try await ledger.runner.prepare()
            var e = Events("p-gap-free")
            let posted = e.posted()
            try await ledger.database.withClient(owner: false, logger: Self.logger) { client in
                let runner = ProjectionRunner(client: client, logger: Self.logger, definitions: [.postings], localAppends: ledger.store.appended)
                let worker = Task { await runner.runLive(.postings, poll: .seconds(60), leaseRetry: .milliseconds(100)) }
                defer { worker.cancel() }
                func projected() async throws -> Int64 { try await ledger.runner.status().first { $0.name == "postings" }?.events ?? -1 }
                try await Task.sleep(for: .milliseconds(300))  // the worker has found nothing to do and waits
                try await ledger.asApp { blocker in
                    // A transaction with an id older than the append's keeps the append out of the
                    // gap-free log until it ends: the worker's batch after the append's signal finds nothing.
                    try await blocker.run("BEGIN", logger: Self.logger)
                    try await blocker.run("SELECT pg_current_xact_id()", logger: Self.logger)
                    _ = try await ledger.store.append([posted])
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(try await projected() == 0)
                    try await blocker.run("COMMIT", logger: Self.logger)
                }
                // No append and no NOTIFY follows, and the poll is a minute away.
                try await Self.waitUntil(timeout: .seconds(10)) { try await projected() == 1 }
            }
        }
    }

    /// Row-for-row equality, reporting the first difference briefly.
    static func expectSame(_ rebuilt: [String], _ live: [String], _ table: String) {
        #expect(rebuilt.count == live.count, "\(table): \(rebuilt.count) rows rebuilt, \(live.count) live")
        if let i = (0..<min(rebuilt.count, live.count)).first(where: { rebuilt[$0] != live[$0] }) {
            Issue.record("\(table) row \(i) differs: rebuilt \(rebuilt[i].prefix(300)) … live \(live[i].prefix(300))")
        }
    }

    static func waitUntil(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("condition not met within \(timeout)")
    }
}
