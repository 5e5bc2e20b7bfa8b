import Foundation
import LedgerCore
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
