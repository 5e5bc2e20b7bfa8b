import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import PostgresNIO
import Testing

@Suite("Concurrency and order")
struct ConcurrencyTests {
    @Test("concurrent appends with the same expected_version: exactly one wins")
    func versionConflictsUnderConcurrency() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            _ = try await ledger.store.append([e.posted()])
            let contenders = (0..<12).map { i in e.make(.applied(studentID: "s-\(i)", universityID: "u-1"), expectedVersion: 1) }
            let results = await withTaskGroup(of: Result<AppendOutcome, any Error>.self) { group in
                for event in contenders {
                    group.addTask { do { return .success(try await ledger.store.append([event])) } catch { return .failure(error) } }
                }
                var all: [Result<AppendOutcome, any Error>] = []
                for await r in group { all.append(r) }
                return all
            }
            let wins = results.filter { if case .success = $0 { true } else { false } }
            let conflicts = results.filter { if case .failure(let error) = $0 { LedgerError.code(error) == .versionConflict } else { false } }
            #expect(wins.count == 1)
            #expect(conflicts.count == contenders.count - 1)
            #expect(try await ledger.count() == 2)
        }
    }

    @Test("concurrent appends to one stream get contiguous versions; a racing duplicate id surfaces as the original")
    func contiguousVersionsAndRacingIds() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            _ = try await ledger.store.append([e.posted()])
            let events = (0..<20).map { i in e.make(.applied(studentID: "s-\(i)", universityID: "u-1")) }
            // Every event is sent twice at once: both sends must report the same recorded event.
            let outcomes = try await withThrowingTaskGroup(of: (String, RecordedEvent).self) { group in
                for event in events + events {
                    group.addTask { (event.id, try await ledger.store.append([event]).events[0]) }
                }
                var byID: [String: [RecordedEvent]] = [:]
                for try await (id, recorded) in group { byID[id, default: []].append(recorded) }
                return byID
            }
            #expect(outcomes.count == 20)
            for (_, pair) in outcomes { #expect(pair.count == 2 && pair[0] == pair[1]) }
            let stream = try await ledger.store.stream("p-1")
            #expect(stream.map(\.version) == Array(1...21))
            #expect(try await ledger.count() == 21)
        }
    }

    @Test("two postings racing to use one payment reference: one wins, the other gets duplicate_payment_ref")
    func paymentRefRace() async throws {
        try await TestLedger.with { ledger in
            var postings = (0..<6).map { Events("p-\($0)") }
            var setup: [Event] = []
            for i in postings.indices { setup += postings[i].placement("s-\(i)") }
            _ = try await ledger.store.append(setup)
            let payments = postings.indices.map { i in postings[i].paid("s-\(i)", 100, ref: "ch_same") }
            let results = await withTaskGroup(of: ErrorCode?.self) { group in
                for payment in payments {
                    group.addTask {
                        do { _ = try await ledger.store.append([payment]); return nil } catch { return LedgerError.code(error) ?? .unavailable }
                    }
                }
                var all: [ErrorCode?] = []
                for await r in group { all.append(r) }
                return all
            }
            #expect(results.filter { $0 == nil }.count == 1)
            #expect(results.filter { $0 == .duplicatePaymentRef }.count == payments.count - 1)
            #expect(try await ledger.count("SELECT count(*) FROM events WHERE type = 'paid'") == 1)
        }
    }

    @Test("the feed never shows an event while a transaction that could commit a lower position is open")
    func feedWaitsForOlderTransactions() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-early")
            _ = try await ledger.store.append([e.posted()])
            let before = try await ledger.feed(after: 0, count: 1)
            try #require(before.count == 1)
            try await ledger.asOwner { slow in
                // A writer takes its transaction id (and so its position range) first...
                try await slow.query("BEGIN", logger: TestCluster.logger)
                var base: Int64 = 0
                for try await b in try await slow.query(
                    "SELECT ((pg_current_xact_id()::text::int8 + position_offset) << 16) FROM ledger_clock", logger: TestCluster.logger
                ).decode(Int64.self) { base = b }
                // ...a later writer commits first...
                var late = Events("p-late")
                let committed = try await ledger.store.append([late.posted()])
                #expect(committed.events[0].position > base)
                let during = try await ledger.store.feed(after: before.last!.position, limit: 100)
                #expect(during.isEmpty, "the feed must hold back the later event while the earlier transaction is open")
                // ...then the earlier writer commits a lower position.
                var early = Events("p-slow")
                let event = early.posted()
                let hash = EventHash.compute(event: event, version: 1, position: base, recordedAt: event.occurredAt, prevHash: [])
                try await slow.query(
                    """
                    INSERT INTO events (position, id, posting_id, version, type, occurred_at, recorded_at, data, prev_hash, hash)
                    VALUES (\(base), \(event.id)::uuid, \(event.postingID), 1, 'posted', now(), now(), \(event.data.json.canonicalString)::jsonb,
                            '\\x'::bytea, decode(\(Hex.encode(hash)), 'hex'))
                    """, logger: TestCluster.logger)
                try await slow.query("COMMIT", logger: TestCluster.logger)
                let after = try await ledger.feed(after: before.last!.position, count: 2)
                #expect(after.map(\.event.postingID) == ["p-slow", "p-late"])
            }
        }
    }

    @Test("a reader following the feed under concurrent writers sees every event exactly once, in order")
    func gapFreeUnderConcurrentWriters() async throws {
        try await TestLedger.with { ledger in
            let writers = 8
            let perWriter = 25
            let seen = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for w in 0..<writers {
                    group.addTask {
                        var e = Events("p-w\(w)")
                        _ = try await ledger.store.append([e.posted(openings: 1000)])
                        for i in 0..<perWriter {
                            _ = try await ledger.store.append([e.applied("s-\(i)")])
                        }
                        return []
                    }
                }
                group.addTask {
                    var cursor: Int64 = 0
                    var positions: [Int64] = []
                    let deadline = ContinuousClock.now + .seconds(60)
                    while positions.count < writers * (perWriter + 1), ContinuousClock.now < deadline {
                        let batch = try await ledger.store.feed(after: cursor, limit: 7)
                        for event in batch {
                            #expect(event.position > cursor)
                            positions.append(event.position)
                            cursor = event.position
                        }
                        if batch.isEmpty { try await Task.sleep(for: .milliseconds(2)) }
                    }
                    return positions
                }
                var all: [Int64] = []
                for try await part in group { all += part }
                return all
            }
            let stored = try await ledger.count()
            #expect(stored == Int64(writers * (perWriter + 1)))
            #expect(seen.count == Int(stored))
            #expect(Set(seen).count == seen.count)
        }
    }
}

@Suite("Group commit")
struct GroupCommitTests {
    /// Waits (at most 20 s) until `condition` holds.
    static func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            guard ContinuousClock.now < deadline else { Issue.record("timed out"); return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test("a company key's event on a posting created for another company moments earlier is refused under the lock, even in the same group")
    func companyScopeIsCheckedUnderTheLock() async throws {
        try await TestLedger.with { ledger in
            let store = EventStore(client: ledger.store.client, logger: TestCluster.logger, readModels: InlineProjections(), appendGroups: 1)
            var block = Events("p-block")
            _ = try await store.append([block.posted()])
            var contested = Events("p-contested")
            let platform = [contested.posted(company: "c-other"), contested.applied("s-1")]
            let intruder = [contested.selected("s-1")]  // sent by c-acme's key before p-contested existed

            // Both queue behind a held stream, so they are decided in one group: the platform's first.
            let (first, second) = try await ledger.asOwner { owner in
                try await owner.query("BEGIN", logger: TestCluster.logger)
                try await owner.query("SELECT 1 FROM streams WHERE posting_id = 'p-block' FOR UPDATE", logger: TestCluster.logger)
                let held = block.applied("s-held")
                async let holder = Result { try await store.append([held]) }
                try await GroupCommitTests.eventually { store.queuedAppends == 0 }
                async let a = Result { try await store.append(platform) }
                try await GroupCommitTests.eventually { store.queuedAppends == 1 }
                async let b = Result { try await store.append(intruder, company: "c-acme") }
                try await GroupCommitTests.eventually { store.queuedAppends == 2 }
                try await owner.query("COMMIT", logger: TestCluster.logger)
                _ = try await holder.get()
                return (await a, await b)
            }
            #expect(try first.get().events.count == 2)
            #expect(throws: LedgerError.self) { try second.get() }
            if case .failure(let error as LedgerError) = second {
                #expect(error.code == .forbidden)
                #expect(error.message.contains("belongs to another company"))
            }
            // Alone, too; and its own postings stay open to it.
            let again = contested.selected("s-1")
            await #expect(throws: LedgerError.self) { try await store.append([again], company: "c-acme") }
            var own = Events("p-own")
            let mine = try await store.append([own.posted(company: "c-acme"), own.applied("s-2")], company: "c-acme")
            #expect(mine.events.count == 2)
            let recorded = try await ledger.store.stream("p-contested")
            #expect(recorded.map(\.event.type) == [.posted, .applied])
        }
    }

    @Test("requests sharing one transaction are each all-or-nothing: valid ones recorded, rejected ones leave no trace, racing retries answered as retries")
    func mixedGroup() async throws {
        try await TestLedger.with { ledger in
            let store = EventStore(client: ledger.store.client, logger: TestCluster.logger, readModels: InlineProjections(), appendGroups: 1)
            var block = Events("p-block")
            var setup = [block.posted()]
            var paying = Events("p-pay")
            setup += paying.placement("s-pay")
            _ = try await store.append(setup)

            // The requests of the group.
            var valid: [[Event]] = []
            for i in 0..<20 {
                var e = Events("p-new-\(i)")
                valid.append(i.isMultiple(of: 2) ? [e.posted()] : e.placement("s-\(i)"))
            }
            let retried = Array(valid.prefix(5))  // sent twice at once
            var ghost = Events("p-ghost")
            let unknownPosting = [ghost.applied("s-x")]  // posting_not_found
            var late = Events("p-new-0")
            let rejectedBatch = [late.applied("s-a"), late.selected("s-b")]  // s-b never applied: the whole batch fails
            let payments = [[paying.paid("s-pay", 100, ref: "ref-1")], [paying.paid("s-pay", 100, ref: "ref-1")]]
            var requests: [(name: String, events: [Event])] = []
            requests += valid.enumerated().map { ("valid-\($0.offset)", $0.element) }
            requests += retried.enumerated().map { ("retry-\($0.offset)", $0.element) }
            requests += [("unknown", unknownPosting), ("rejected", rejectedBatch), ("pay-a", payments[0]), ("pay-b", payments[1])]

            // Hold the first request's stream so everything else queues behind it, then release.
            let results = try await ledger.asOwner { owner in
                try await owner.query("BEGIN", logger: TestCluster.logger)
                try await owner.query("SELECT 1 FROM streams WHERE posting_id = 'p-block' FOR UPDATE", logger: TestCluster.logger)
                return try await withThrowingTaskGroup(of: (String, Result<AppendOutcome, any Error>).self) { group in
                    let first = block.applied("s-first")
                    group.addTask { ("first", await Result { try await store.append([first]) }) }
                    try await Self.eventually { store.queuedAppends == 0 }
                    for request in requests {
                        group.addTask { (request.name, await Result { try await store.append(request.events) }) }
                    }
                    try await Self.eventually { store.queuedAppends == requests.count }
                    try await owner.query("COMMIT", logger: TestCluster.logger)
                    var all: [String: Result<AppendOutcome, any Error>] = [:]
                    for try await (name, result) in group { all[name] = result }
                    return all
                }
            }

            func outcome(_ name: String) throws -> AppendOutcome { try #require(try? results[name]?.get(), "\(name) failed") }
            // The queued requests shared one transaction (one xid, so one position base).
            let bases = Set(try (0..<20).flatMap { try outcome("valid-\($0)").events.map { $0.position >> 16 } })
            #expect(bases.count == 1)
            #expect(try outcome("first").events.count == 1)
            for i in 0..<5 {
                let original = try outcome("valid-\(i)"), retry = try outcome("retry-\(i)")
                #expect(original.events == retry.events)
                #expect(original.replayed != retry.replayed)
            }
            #expect(results["unknown"].flatMap { try? $0.get() } == nil)
            if case .failure(let error) = results["unknown"] { #expect(LedgerError.code(error) == .postingNotFound) }
            // not_applied, or posting_not_found when it queued before the request that posts p-new-0.
            if case .failure(let error) = results["rejected"] { #expect([.notApplied, .postingNotFound].contains(LedgerError.code(error))) } else {
                Issue.record("the rejected batch was accepted")
            }
            let payCodes = ["pay-a", "pay-b"].map { name -> ErrorCode? in
                switch results[name] {
                case .success?: nil
                case .failure(let error)?: LedgerError.code(error)
                case nil: .unavailable
                }
            }
            #expect(payCodes.filter { $0 == nil }.count == 1)
            #expect(payCodes.contains(.duplicatePaymentRef))

            // Exactly what was accepted is recorded, once, with intact chains.
            let expected = 4 + valid.map(\.count).reduce(0, +) + 1 + 1  // setup, the group, the first request, one payment
            #expect(try await ledger.count() == Int64(expected))
            #expect(try await ledger.count("SELECT count(*) FROM events WHERE posting_id = 'p-ghost'") == 0)
            #expect(try await ledger.count("SELECT count(*) FROM events WHERE posting_id = 'p-new-0'") == 1)
            #expect(try await ledger.count("SELECT version FROM streams WHERE posting_id = 'p-new-0'") == 1)
            #expect(try await ledger.count("SELECT count(*) FROM payment_refs") == 1)
            let report = try await ledger.integrity.verify()
            #expect(report.ok, "\(report.problems)")
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

@Suite("Stream order under concurrency")
struct StreamOrderTests {
    @Test("transactions that share some streams keep every stream's positions in version order (verify and projections read by position)")
    func positionsFollowVersionsPerStream() async throws {
        try await TestLedger.with { ledger in
            let postings = (0..<4).map { "p-shared-\($0)" }
            for posting in postings {
                var e = Events(posting)
                _ = try await ledger.store.append([e.posted(openings: 1000)])
            }
            // Concurrent batches, each applying to two of the four postings (and in import mode, a
            // transaction of its own), so transactions lock overlapping sets of streams.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        for round in 0..<30 {
                            let pair = [postings[(writer + round) % 4], postings[(writer + round + 1 + writer % 2) % 4]]
                            let batch = pair.map { posting in
                                var e = Events(posting)
                                return e.applied("s-\(writer)-\(round)")
                            }
                            _ = try await ledger.store.append(batch, mode: writer % 4 == 3 ? .prefix : .atomic)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let expected = 4 + 8 * 30 * 2
            let recorded = try await ledger.feed(after: 0, count: expected)
            #expect(recorded.count == expected)
            for (posting, stream) in Dictionary(grouping: recorded, by: \.event.postingID) {
                let versions = stream.sorted { $0.position < $1.position }.map(\.version)
                #expect(versions == Array(1...Int64(stream.count)), "\(posting): versions in position order")
            }
            let report = try await ledger.integrity.verify()
            #expect(report.ok, "\(report.problems.prefix(3))")
        }
    }
}
