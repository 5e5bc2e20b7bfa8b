import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import Logging
import PostgresNIO
import Testing

extension TestLedger {
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

    var statuses: [ProjectionStatus] { get async throws { try await runner.status() } }

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

    @Test("after a random concurrent history, a rebuild from position 0 equals the rows the appends wrote, row for row")
    func rebuildEqualsLive() async throws {
        try await TestLedger.with { ledger in
            let events = Array(DemoHistory(postings: 60, seed: UInt64.random(in: 1...1_000_000)))
            try await ledger.appendConcurrently(events)
            let statuses = try await ledger.runner.status()
            #expect(statuses.allSatisfy { $0.lag == 0 && !$0.rebuilding && $0.events == nil }, "\(statuses)")
            for definition in ProjectionDefinition.all {
                let live = try await ledger.dump(definition)
                #expect(live["state"] == nil, "the appends keep no second copy of the states")
                #expect(live.values.contains { !$0.isEmpty }, "\(definition.name) has rows")
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

    @Test("a rebuild while appends go on: the old tables serve until the swap, and no append is lost or counted twice across it")
    func rebuildWhileServing() async throws {
        try await TestLedger.with { ledger in
            let events = Array(DemoHistory(postings: 20, seed: 7))
            let half = events.count / 2
            try await ledger.appendConcurrently(Array(events[..<half]), writers: 1)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await ledger.appendConcurrently(Array(events[half...]), writers: 2, batch: 2) }
                group.addTask {
                    for definition in ProjectionDefinition.all { _ = try await ledger.runner.rebuild(definition) }
                }
                try await group.waitForAll()
            }
            let statuses = try await ledger.runner.status()
            for status in statuses {
                #expect(status.events == nil, "\(status.name): written inline")
                #expect(!status.rebuilding)
                #expect(status.lag == 0)
            }
            // And the result equals a fresh rebuild.
            for definition in ProjectionDefinition.all {
                let live = try await ledger.dump(definition)
                _ = try await ledger.runner.rebuild(definition)
                let rebuilt = try await ledger.dump(definition)
                for table in live.keys.sorted() { Self.expectSame(rebuilt[table] ?? [], live[table] ?? [], table) }
            }
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
            let moment = try await ledger.serverNow()
            let position = try await ledger.count("SELECT max(position) FROM events")
            let before = try await Self.reports(ledger, model: ReadModel(logger: Self.logger))
            #expect(before.count > 5)

            try await Task.sleep(for: .milliseconds(20))
            try await ledger.appendConcurrently(Array(events[cut...]), writers: 3)
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

    @Test("a projection an older release's workers kept up to a checkpoint is caught up and handed to the appends, row for row as a rebuild")
    func attachFromCheckpoint() async throws {
        try await TestLedger.with { ledger in
            let events = Array(DemoHistory(postings: 24, seed: 5))
            let cut = events.count / 2
            try await ledger.appendConcurrently(Array(events[..<cut]), writers: 2)
            let checkpoint = try await ledger.count("SELECT max(position) FROM events")
            // As an older release left it: the rows up to a checkpoint, with the workers' state table.
            let before = try await ledger.dump(.placements)
            try await ledger.exec(
                """
                UPDATE projections SET inline = false, position = \(checkpoint);
                SET ROLE placement_app;
                """
                    + ProjectionDefinition.all.map {
                        """
                        CREATE TABLE \($0.liveSchema).state (posting_id text PRIMARY KEY, state text NOT NULL);
                        INSERT INTO \($0.liveSchema).state SELECT posting_id, snapshot FROM streams;
                        """
                    }.joined(separator: "\n"))
            // A process started now finds nothing inline: its appends leave the rows to the attach.
            let store = EventStore(client: ledger.store.client, logger: TestCluster.logger, readModels: InlineProjections())
            var rest = Array(events[cut...])
            while !rest.isEmpty {
                _ = try await store.append(Array(rest.prefix(1)))
                rest.removeFirst()
            }
            #expect(
                try await ledger.dump(.placements).filter { $0.key != "state" } == before,
                "nothing was written inline while the projection was not attached")
            #expect(try await ledger.statuses.allSatisfy { $0.rebuilding && $0.position == checkpoint })

            try await ledger.runner.prepare()
            let statuses = try await ledger.statuses
            #expect(statuses.allSatisfy { !$0.rebuilding && $0.lag == 0 && $0.events == nil }, "\(statuses)")
            for definition in ProjectionDefinition.all {
                let attached = try await ledger.dump(definition)
                #expect(attached["state"] == nil)
                _ = try await ledger.runner.rebuild(definition)
                let rebuilt = try await ledger.dump(definition)
                for table in rebuilt.keys.sorted() { Self.expectSame(rebuilt[table] ?? [], attached[table] ?? [], table) }
            }
            // From here on the appends write it.
            var e = Events("p-after-attach")
            _ = try await store.append(e.placement("s-1"))
            #expect(try await ledger.count("SELECT count(*) FROM proj_placements.placements WHERE posting_id = 'p-after-attach'") == 1)
        }
    }

    @Test("a projection whose tables are missing (a restore that left them out) is built again from the log when the daemon starts")
    func missingTablesRebuilt() async throws {
        try await TestLedger.with { ledger in
            try await ledger.appendConcurrently(Array(DemoHistory(postings: 8, seed: 3)), writers: 2)
            let before = try await ledger.dump(.placements)
            try await ledger.exec("DROP SCHEMA proj_placements CASCADE")
            try await ledger.runner.prepare()
            #expect(try await ledger.dump(.placements) == before)
            var e = Events("p-after-restore")
            _ = try await ledger.store.append(e.placement("s-1"))
            #expect(try await ledger.count("SELECT count(*) FROM proj_placements.placements WHERE posting_id = 'p-after-restore'") == 1)
        }
    }

    @Test("a projection built by another version keeps serving, frozen, while this version's is rebuilt; then the appends write the new one")
    func versionChangeRebuilds() async throws {
        try await TestLedger.with { ledger in
            let events = Array(DemoHistory(postings: 16, seed: 9))
            try await ledger.appendConcurrently(events, writers: 2)
            let head = try await ledger.count("SELECT max(position) FROM events")
            // The tables of "version 1" of placements (this code's is 2).
            try await ledger.exec("UPDATE projections SET version = 1 WHERE name = 'placements'")
            let store = EventStore(client: ledger.store.client, logger: TestCluster.logger, readModels: InlineProjections())
            var e = Events("p-during")
            _ = try await store.append(e.placement("s-1"))
            #expect(try await ledger.count("SELECT count(*) FROM proj_placements.placements WHERE posting_id = 'p-during'") == 0)
            #expect(try await ledger.count("SELECT count(*) FROM proj_postings.postings WHERE posting_id = 'p-during'") == 1)

            try await ledger.runner.prepare()
            let statuses = try await ledger.statuses
            #expect(statuses.allSatisfy { !$0.rebuilding && $0.version == ProjectionDefinition.named($0.name)!.version }, "\(statuses)")
            #expect(try await ledger.count("SELECT count(*) FROM proj_placements.placements WHERE posting_id = 'p-during'") == 1)
            #expect(try await ledger.count("SELECT position FROM projections WHERE name = 'placements'") > head)
            _ = try await store.append([e.applied("s-2")])
            #expect(try await ledger.count("SELECT count(*) FROM proj_placements.applications WHERE posting_id = 'p-during'") == 2)
        }
    }

    static func expectSame(_ rebuilt: [String], _ live: [String], _ table: String) {
        #expect(rebuilt.count == live.count, "\(table): \(rebuilt.count) rows rebuilt, \(live.count) live")
        if let i = (0..<min(rebuilt.count, live.count)).first(where: { rebuilt[$0] != live[$0] }) {
            Issue.record("\(table) row \(i) differs: rebuilt \(rebuilt[i].prefix(300)) … live \(live[i].prefix(300))")
        }
    }

    static func waitUntil(
        timeout: Duration = .seconds(20), _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("condition not met within \(timeout): \(what)", sourceLocation: sourceLocation)
    }
}
