import Foundation
import LedgerCore
@testable import LedgerStore
import LedgerHTTP
import LedgerProjections
import PostgresNIO
import Testing

/// What a stolen daemon password or a hostile tenant could do before, proved closed.
@Suite("Hardening")
struct HardeningTests {
    @Test("the daemon's role creates no schema but the projections' own, and a look-alike schema named after the owner is never searched by the owner's commands")
    func ownerIgnoresLookAlikeSchema() async throws {
        try await TestLedger.with { ledger in
            let owner = EmbeddedCluster.ownerUser
            // The daemon's role may not create a schema (one named after the owner would come first
            // on PostgreSQL's default search_path), nor get one made or renamed by the owner's
            // functions under a name outside the projections' pattern.
            for statement: PostgresQuery in [
                "CREATE SCHEMA \"\(unescaped: owner)\"",
                "SELECT placement_create_schema(\(owner))",
                "SELECT placement_create_schema('proj_x; CREATE SCHEMA evil')",
                "SELECT placement_rename_schema('proj_postings', \(owner))",
                "SELECT placement_rename_schema('public', 'proj_public')",
            ] {
                do {
                    try await ledger.asApp { for try await _ in try await $0.run(statement, logger: TestCluster.logger) {} }
                    Issue.record("the daemon's role ran \(statement.sql)")
                } catch let error as PSQLError {
                    #expect(error.serverInfo?[.sqlState] == "42501", "\(statement.sql): \(String(reflecting: error))")
                }
            }
            #expect(try await ledger.count("SELECT count(*) FROM pg_namespace WHERE nspname IN ('\(owner)', 'evil', 'proj_public')") == 0)
            // Should such a schema exist anyway (made by anyone else), the owner's commands still
            // never look in it.
            try await ledger.asOwner { connection in
                try await connection.run("CREATE SCHEMA \"\(unescaped: owner)\"", logger: TestCluster.logger)
                try await connection.run(
                    "CREATE TABLE \"\(unescaped: owner)\".api_keys (LIKE public.api_keys INCLUDING DEFAULTS)", logger: TestCluster.logger)
            }
            let created = try await ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                try await KeyStore(client: owner, logger: TestCluster.logger).create(role: .admin, orgID: nil).key.id
            }
            let planted = try await ledger.count("SELECT count(*) FROM \"\(EmbeddedCluster.ownerUser)\".api_keys")
            let real = try await ledger.count("SELECT count(*) FROM public.api_keys WHERE id = '\(created)'")
            #expect(planted == 0, "the owner's key went into the planted table")
            #expect(real == 1)
            let path = try await ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                try await owner.withConnection { connection in
                    var value = ""
                    for try await v in try await connection.run("SHOW search_path", logger: TestCluster.logger).decode(String.self) { value = v }
                    return value
                }
            }
            #expect(path == "public")
        }
    }

    @Test("a company's events on another company's posting are refused before any lock: 403 while that stream is held")
    func ownershipBeforeLocks() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-owned")
            _ = try await ledger.store.append([e.posted(company: "c-1")])
            let held = try await ledger.store.client.withConnection { holder in
                // Another transaction holds the posting's turn (an append that takes long).
                try await holder.run("BEGIN", logger: TestCluster.logger)
                try await holder.run("SELECT pg_advisory_xact_lock(1347, hashtext('p-owned'))", logger: TestCluster.logger)
                let closing = e.make(.closed(reason: nil))
                let outcome: Result<String, any Error>
                do {
                    // Before the check moved ahead of the locks, this waited for the holder.
                    outcome = .success(
                        try await abandoning(after: .seconds(10)) {
                            do {
                                _ = try await ledger.store.append([closing], company: "c-2")
                                return "accepted"
                            } catch let error as LedgerError {
                                return error.code.rawValue
                            }
                        })
                } catch {
                    outcome = .failure(error)
                }
                try await holder.run("ROLLBACK", logger: TestCluster.logger)
                return try outcome.get()
            }
            #expect(held == "forbidden")
            #expect(try await ledger.count("SELECT count(*) FROM events WHERE posting_id = 'p-owned'") == 1)
        }
    }

    @Test("unknown keys cost no lookup once an address's failures outrun its limit, and a flood of unknown ids leaves the keys in use cached")
    func keyCacheUnderFlood() async throws {
        try await TestLedger.with { ledger in
            let created = try await ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                try await KeyStore(client: owner, logger: TestCluster.logger).create(role: .admin, orgID: nil)
            }
            func unknown() -> String {
                let hex = Array("0123456789abcdef")
                return "plk_" + String((0..<12).map { _ in hex.randomElement()! }) + "_" + String((0..<64).map { _ in hex.randomElement()! })
            }
            let cache = KeyCache(
                keys: KeyStore(client: ledger.store.client, logger: TestCluster.logger), ttl: .seconds(600), limit: 100,
                failures: FailureLimiter(burst: 10, perSecond: 1))
            #expect(try await cache.principal(for: created.secret, from: "192.0.2.1")?.keyID == created.key.id)
            // One address sends unknown keys: after its burst they are refused without a lookup.
            var refused = 0
            for _ in 0..<100 {
                do {
                    #expect(try await cache.principal(for: unknown(), from: "192.0.2.66") == nil)
                } catch let error as LedgerError where error.code == .unauthorized {
                    refused += 1
                }
            }
            #expect(refused >= 80, "\(refused) of 100 refused without a lookup")
            // Another address is looked up as usual.
            #expect(try await cache.principal(for: unknown(), from: "192.0.2.2") == nil)
            // The key is revoked in the database: from here, only a cached entry still admits it.
            let revoked = try await ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                try await KeyStore(client: owner, logger: TestCluster.logger).revoke(id: created.key.id)
            }
            #expect(revoked)
            // 300 unknown ids (no address: no limit) against a cache of 100, while the real key is in use.
            for n in 0..<300 {
                #expect(try await cache.principal(for: unknown()) == nil)
                if n % 20 == 0 { #expect(try await cache.principal(for: created.secret) != nil, "the key in use was pushed out at \(n)") }
            }
            #expect(try await cache.principal(for: created.secret) != nil)
            #expect(await cache.count <= 100)
        }
    }

    @Test("a read waiting for a position no append has been given is answered at once, not after the wait")
    func impossiblePositionAnsweredAtOnce() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-ceiling")
            let recorded = try await ledger.store.append([e.posted()])
            let head = recorded.events[0].position
            // A reachable position answers; one above every position given out fails at once with the
            // contract's code, naming why (the wait here is long enough that a wait would show).
            let watch = PositionWatch(client: ledger.store.client, logger: TestCluster.logger)
            let (rows, _) = try await ReadModel.readRows(
                ledger.store.client, projections: ["postings"], minPosition: head, watch: watch, key: "k", wait: .seconds(60), logger: TestCluster.logger,
                ReadModel(logger: TestCluster.logger).postingQuery("p-ceiling"))
            #expect(rows.count == 1)
            for read in 0..<2 {
                do {
                    if read == 0 {
                        _ = try await ReadModel.readRows(
                            ledger.store.client, projections: ["postings"], minPosition: Int64.max, watch: watch, key: "k", wait: .seconds(60),
                            logger: TestCluster.logger,
                            ReadModel(logger: TestCluster.logger).postingQuery("p-ceiling"))
                    } else {
                        _ = try await ReadModel.read(
                            ledger.store.client, projections: ["postings"], minPosition: head + (1 << 40), watch: watch, key: "k",
                            wait: .seconds(60), logger: TestCluster.logger
                        ) { _ in 0 }
                    }
                    Issue.record("an impossible position was answered")
                } catch let error as LedgerError {
                    #expect(error.code == .projectionLagging)
                    #expect(error.message.contains("beyond every position"), "\(error.message)")
                }
            }
        }
    }

    @Test("min_position waits park on the watch, wake when the position is reached, leave when cancelled, and one key may hold only so many")
    func positionWaits() async throws {
        try await TestLedger.with { ledger in
            let watch = PositionWatch(client: ledger.store.client, logger: TestCluster.logger, limitPerKey: 8)
            var e = Events("p-waits")
            try await ledger.asOwner { holder in
                // An older transaction with an id holds the horizon back: the append's position
                // exists but is not reached until the holder ends.
                try await holder.run("BEGIN", logger: TestCluster.logger)
                try await holder.run("SELECT pg_current_xact_id()", logger: TestCluster.logger)
                let target = try await ledger.store.append([e.posted()]).events[0].position
                let deadline = ContinuousClock.now + .seconds(60)
                func wait(_ key: String, until deadline: ContinuousClock.Instant = deadline) async throws {
                    try await watch.wait(until: target, projections: ["postings"], key: key, deadline: deadline)
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<8 { group.addTask { try await wait("k1") } }
                    while watch.waiting < 8 { try await Task.sleep(for: .milliseconds(5)) }
                    // The ninth wait of the same key is refused at once.
                    do {
                        try await wait("k1")
                        Issue.record("a ninth wait of one key was accepted")
                    } catch let error as LedgerError {
                        #expect(error.code == .projectionLagging)
                        #expect(error.message.contains("already has 8 reads waiting"), "\(error.message)")
                    }
                    // Another key waits, and is answered at its own deadline.
                    do {
                        try await wait("k2", until: .now + .milliseconds(50))
                        Issue.record("a wait for a held-back position returned")
                    } catch let error as LedgerError {
                        #expect(error.code == .projectionLagging)
                        #expect(error.message.contains("not yet \(target)"), "\(error.message)")
                    }
                    // A cancelled wait (its request went away) leaves the watch.
                    let cancelled = Task { try await wait("k3") }
                    while watch.waiting < 9 { try await Task.sleep(for: .milliseconds(5)) }
                    cancelled.cancel()
                    await #expect(throws: CancellationError.self) { try await cancelled.value }
                    #expect(watch.waiting == 8)
                    // The holder ends: every parked wait returns.
                    try await holder.run("ROLLBACK", logger: TestCluster.logger)
                    try await group.waitForAll()
                }
            }
            #expect(watch.waiting == 0)
        }
    }

    @Test("batches of large events end at their byte budget, and paging on reads every event once")
    func batchesEndAtTheirBytes() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-bytes")
            // Notes of 2,000 four-byte characters: 8,000 bytes each.
            let note = String(repeating: "\u{1F600}", count: 2000)
            var batch = e.placement("s-1")
            for day in 1...24 {
                batch.append(e.make(.hoursLogged(studentID: "s-1", minutes: 30, workDate: CivilDate(year: 2026, month: 3, day: day)!, note: note, reason: nil)))
            }
            _ = try await ledger.store.append(batch)
            // Read in the snapshot (not the gap-free feed, which other tests' open transactions on the
            // shared cluster may hold back; both collect their batches the same way).
            let all = try await ledger.store.stream("p-bytes")
            #expect(all.count == batch.count)
            for bytes in [20_000, 50_000] {
                var read: [RecordedEvent] = []
                var after: Int64 = 0
                var pages = 0
                while true {
                    let page = try await ledger.asApp { connection in
                        try await EventStore.snapshotEvents(after: after, limit: 1000, bytes: bytes, on: connection, logger: TestCluster.logger)
                    }
                    guard let last = page.last else { break }
                    pages += 1
                    // One event more than fits ends a page: at most bytes / 8,000 + 1 large ones.
                    #expect(page.filter { $0.event.type == .hoursLogged }.count <= bytes / 8000 + 1, "a page of \(page.count) events")
                    read += page
                    after = last.position
                }
                #expect(read.filter { $0.event.postingID == "p-bytes" }.map(\.event.id) == all.map(\.event.id))
                #expect(pages >= 24 / (bytes / 8000 + 1))
                let fold = try await ledger.asApp { connection in
                    try await connection.transaction(logger: TestCluster.logger) {
                        try await EventStore.foldBatch(
                            after: all[3].position, limit: 1000, bytes: bytes, bound: .committed, on: connection, logger: TestCluster.logger)
                    }
                }
                #expect(fold.count <= bytes / 8000 + 1 && !fold.isEmpty)
            }
        }
    }

    @Test(
        "verify --deep passes demo ledgers: the daemon's --demo default (200 postings, seed 42) and others of other seeds",
        arguments: [(200, UInt64(42)), (60, 1), (60, 7), (60, 2026)])
    func deepVerifyPassesDemoLedgers(postings: Int, seed: UInt64) async throws {
        try await TestLedger.with { ledger in
            let history = Array(DemoHistory(postings: postings, seed: seed))
            for start in stride(from: 0, to: history.count, by: 1000) {
                _ = try await ledger.store.append(Array(history[start..<min(start + 1000, history.count)]))
            }
            let report = try await DeepVerify(client: ledger.store.client, logger: TestCluster.logger).run()
            #expect(report.problems.isEmpty, "\(report.problems.prefix(3))")
            #expect(report.eventsChecked == Int64(history.count))
            #expect(report.streamsChecked == postings)
        }
    }

    @Test("verify --deep passes a demo ledger, and finds a rule-breaking event inserted with a valid hash by the daemon's role, a tampered stream state and changed payment, application and summary rows")
    func deepVerify() async throws {
        try await TestLedger.with { ledger in
            let history = Array(DemoHistory(postings: 12, seed: 5))
            let deep = DeepVerify(client: ledger.store.client, logger: TestCluster.logger)
            // An older transaction with an id stays open meanwhile (as another tenant's, or a test's in
            // another database of the cluster, may): the history is above the gap-free horizon, yet
            // in the snapshot, its streams and its read-model rows. The fold must see it all.
            let clean = try await ledger.asOwner { holder in
                try await holder.run("BEGIN", logger: TestCluster.logger)
                try await holder.run("SELECT pg_current_xact_id()", logger: TestCluster.logger)
                for start in stride(from: 0, to: history.count, by: 500) {
                    _ = try await ledger.store.append(Array(history[start..<min(start + 500, history.count)]))
                }
                let report = try await deep.run()
                try await holder.run("ROLLBACK", logger: TestCluster.logger)
                return report
            }
            #expect(clean.problems.isEmpty, "\(clean.problems.prefix(3))")
            #expect(clean.eventsChecked == Int64(history.count))
            #expect(clean.rowsChecked > 0)

            // The daemon's role inserts an hours_logged for a student who was never selected, with
            // the right version, chain and hash: re-hashing cannot tell.
            var e = Events("p-deep")
            _ = try await ledger.store.append([e.posted()])
            let head = try await ledger.text("SELECT version || ' ' || encode(head_hash, 'hex') FROM streams WHERE posting_id = 'p-deep'")
            let parts = head.split(separator: " ")
            let version = Int64(parts[0])! + 1, prev = Hex.decode(String(parts[1]))!
            let event = e.make(.hoursLogged(studentID: "s-nobody", minutes: 60, workDate: CivilDate(year: 2026, month: 3, day: 2)!, note: nil, reason: nil))
            let position = Int64(try await ledger.text("SELECT (max(position) + 1)::text FROM events"))!
            let recordedAt = Timestamp(microseconds: event.occurredAt.microseconds + 1_000_000)
            let hash = EventHash.compute(event: event, version: version, position: position, recordedAt: recordedAt, prevHash: prev)
            try await ledger.asApp { connection in
                try await connection.run(
                    """
                    INSERT INTO events (position, id, posting_id, version, type, occurred_at, recorded_at, expected_version, actor, data, prev_hash, hash)
                    VALUES (\(position), \(event.id)::uuid, 'p-deep', \(version), 'hours_logged',
                            to_timestamp(0) + (\(event.occurredAt.microseconds)::text || ' microseconds')::interval,
                            to_timestamp(0) + (\(recordedAt.microseconds)::text || ' microseconds')::interval,
                            NULL, \(event.actor), \(event.data.json.canonicalString)::jsonb, decode(\(Hex.encode(prev)), 'hex'), decode(\(Hex.encode(hash)), 'hex'))
                    """, logger: TestCluster.logger)
            }
            let rehashed = try await ledger.integrity.verify()
            #expect(rehashed.ok, "re-hashing alone does not see it: \(rehashed.problems.prefix(2))")
            let found = try await deep.run()
            let rule = found.problems.first { $0.message.contains("breaks the rules: not_selected") }
            #expect(rule?.position == position, "\(found.problems.prefix(3))")

            // The daemon's role gives a posting another posting's stored state.
            var f = Events("p-tampered")
            _ = try await ledger.store.append([f.posted(openings: 3)])
            try await ledger.asApp { connection in
                try await connection.run(
                    """
                    UPDATE streams SET snapshot = (SELECT snapshot FROM streams WHERE posting_id = 'p-deep')
                    WHERE posting_id = 'p-tampered'
                    """, logger: TestCluster.logger)
            }
            let tampered = try await deep.run()
            #expect(tampered.problems.contains { $0.message.contains("stream p-tampered") }, "\(tampered.problems.prefix(4))")

            // A payment's amount changed in the read model (the history has payments).
            #expect(try await ledger.count("SELECT count(*) FROM proj_placements.payments") > 0)
            try await ledger.exec(
                "UPDATE proj_placements.payments SET amount_minor = amount_minor + 1 WHERE payment_ref = (SELECT min(payment_ref) FROM proj_placements.payments)")
            let payment = try await deep.run()
            #expect(payment.problems.contains { $0.message.contains("the payments read model's row") }, "\(payment.problems.prefix(4))")

            // An application's time moved, and a summary row's count raised (the university report
            // reads them).
            try await ledger.exec(
                """
                UPDATE proj_placements.applications SET applied_at = applied_at + 1
                WHERE (posting_id, student_id) = (SELECT posting_id, student_id FROM proj_placements.applications ORDER BY 1, 2 LIMIT 1)
                """)
            try await ledger.exec(
                """
                UPDATE proj_placements.report_months SET applicants = applicants + 1
                WHERE (university_id, month, company_id, currency) = (SELECT university_id, month, company_id, currency FROM proj_placements.report_months ORDER BY 1, 2, 3, 4 LIMIT 1)
                """)
            let rows = try await deep.run()
            #expect(rows.problems.contains { $0.message.contains("the applications read model's row") }, "\(rows.problems.prefix(6))")
            #expect(rows.problems.contains { $0.message.contains("the report summary read model's row") }, "\(rows.problems.prefix(6))")

            // The history the statement, the aging and every as_of report read: a line's amount
            // changed, and a recorded change of the report figures raised.
            #expect(rows.problems.allSatisfy { !$0.message.contains("history") }, "\(rows.problems.prefix(6))")
            try await ledger.exec(
                "UPDATE proj_history.lines SET amount_minor = amount_minor + 1 WHERE position = (SELECT min(position) FROM proj_history.lines)")
            try await ledger.exec(
                """
                UPDATE proj_history.report_changes SET applicants = applicants + 1
                WHERE recorded_at = (SELECT min(recorded_at) FROM proj_history.report_changes)
                """)
            let changed = try await deep.run()
            #expect(changed.problems.contains { $0.message.contains("the history lines read model's row") }, "\(changed.problems.prefix(8))")
            #expect(changed.problems.contains { $0.message.contains("the history report changes read model's row") }, "\(changed.problems.prefix(8))")
        }
    }

    @Test("verify --deep on a ledger whose read models were never built checks the log and says so, rather than failing")
    func deepVerifyWithoutReadModels() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-no-models")
            _ = try await ledger.store.append(e.placement("s-1"))
            // As a ledger only placementctl has written: no daemon prepared the projections.
            try await ledger.exec("DROP SCHEMA proj_postings CASCADE")
            try await ledger.exec("DROP SCHEMA proj_placements CASCADE")
            let report = try await DeepVerify(client: ledger.store.client, logger: TestCluster.logger).run()
            #expect(!report.readModelsBuilt)
            #expect(report.problems.isEmpty, "\(report.problems.prefix(2))")
            #expect(report.eventsChecked >= 3 && report.rowsChecked == 0)
        }
    }

    @Test("before the read models exist (a ledger's first start), /readyz says so and reads answer 503, not 500")
    func readsBeforeTheReadModelsExist() async throws {
        try await APIFixture.with { f, client in
            #expect(try await client.call(.get, "/readyz").status == .ok)
            try await f.ledger.exec("DROP SCHEMA proj_postings CASCADE")
            try await f.ledger.exec("DROP SCHEMA proj_placements CASCADE")
            let ready = try await client.call(.get, "/readyz")
            #expect(ready.status == .serviceUnavailable && ready.json["status"] == .string("building the read models"), "\(ready.json)")
            for uri in ["/v1/placements?limit=5", "/v1/placements?limit=5&min_position=1"] {
                let reply = try await client.call(.get, uri, key: f.university)
                #expect(reply.status == .serviceUnavailable && reply.json.errorCode == "unavailable", "\(uri): \(reply.json)")
            }
        }
    }
}
