import LedgerCore
import LedgerProjections
import LedgerStore
import PostgresNIO
import Testing

/// Every kind of tampering a superuser can do with the triggers switched off is found by verify,
/// which names the first bad position.
@Suite("Tamper evidence")
struct TamperTests {
    /// Three postings with a few events each, interleaved; returns the recorded events.
    static func history(_ ledger: TestLedger) async throws -> [RecordedEvent] {
        var a = Events("p-a")
        var b = Events("p-b")
        var c = Events("p-c")
        var recorded: [RecordedEvent] = []
        recorded += try await ledger.store.append([a.posted(), b.posted()]).events
        recorded += try await ledger.store.append([a.applied("s-1"), b.applied("s-2"), c.posted()]).events
        recorded += try await ledger.store.append([a.selected("s-1"), b.selected("s-2"), c.applied("s-3")]).events
        recorded += try await ledger.store.append([a.paid("s-1", 100, ref: "r-1"), c.selected("s-3")]).events
        return recorded
    }

    /// Runs SQL as a superuser with the append-only triggers disabled.
    static func tamper(_ ledger: TestLedger, _ sql: String) async throws {
        try await ledger.exec("SET session_replication_role = replica; \(sql); SET session_replication_role = origin")
    }

    @Test("an untouched ledger verifies")
    func cleanLedgerVerifies() async throws {
        try await TestLedger.with { ledger in
            let events = try await Self.history(ledger)
            let report = try await ledger.integrity.verify()
            #expect(report.ok, "\(report.problems)")
            #expect(report.eventsChecked == Int64(events.count))
            #expect(report.streamsChecked == 3)
        }
    }

    enum Kind: String, CaseIterable, Sendable {
        case modifiedData, modifiedRecordedAt, modifiedOccurredAt, modifiedType, deletedMiddle, deletedTail, inserted, reordered, swappedAcrossStreams
    }

    @Test("verify names the first bad position", arguments: Kind.allCases)
    func detects(_ kind: Kind) async throws {
        try await TestLedger.with { ledger in
            let events = try await Self.history(ledger)
            let byPosting = Dictionary(grouping: events, by: \.event.postingID)
            let a = byPosting["p-a"]!
            let expected: Int64
            switch kind {
            case .modifiedData:
                let target = a[3]  // the payment
                try await Self.tamper(ledger, "UPDATE events SET data = jsonb_set(data, '{amount_minor}', '99') WHERE position = \(target.position)")
                expected = target.position
            case .modifiedRecordedAt:
                let target = a[1]
                try await Self.tamper(ledger, "UPDATE events SET recorded_at = recorded_at + interval '1 microsecond' WHERE position = \(target.position)")
                expected = target.position
            case .modifiedOccurredAt:
                let target = a[2]
                try await Self.tamper(ledger, "UPDATE events SET occurred_at = occurred_at - interval '1 day' WHERE position = \(target.position)")
                expected = target.position
            case .modifiedType:
                let target = a[2]
                try await Self.tamper(ledger, "UPDATE events SET type = 'withdrawn' WHERE position = \(target.position)")
                expected = target.position
            case .deletedMiddle:
                try await Self.tamper(ledger, "DELETE FROM events WHERE position = \(a[1].position)")
                expected = a[2].position  // the next event of that stream no longer chains
            case .deletedTail:
                try await Self.tamper(ledger, "DELETE FROM events WHERE position = \(a[3].position)")
                expected = a[3].position  // the recorded stream head names it
            case .inserted:
                // A forged copy of an event under a new id, at an unused position inside the stream.
                let position = a[1].position + 30_000
                try await Self.tamper(
                    ledger,
                    """
                    INSERT INTO events (position, id, posting_id, version, type, occurred_at, recorded_at, data, prev_hash, hash)
                    SELECT \(position), gen_random_uuid(), posting_id, 99, type, occurred_at, recorded_at, data, prev_hash, hash
                    FROM events WHERE position = \(a[1].position)
                    """)
                expected = position
            case .reordered:
                // Swap two events of one stream: positions stay, contents trade places.
                let (x, y) = (a[1].position, a[2].position)
                try await Self.tamper(
                    ledger,
                    "UPDATE events SET position = -position WHERE position IN (\(x), \(y)); UPDATE events SET position = CASE WHEN position = -\(x) THEN \(y) ELSE \(x) END WHERE position IN (-\(x), -\(y))")
                expected = x
            case .swappedAcrossStreams:
                let b = byPosting["p-b"]!
                let (x, y) = (a[2].position, b[2].position)
                try await Self.tamper(
                    ledger,
                    "UPDATE events SET position = -position WHERE position IN (\(x), \(y)); UPDATE events SET position = CASE WHEN position = -\(x) THEN \(y) ELSE \(x) END WHERE position IN (-\(x), -\(y))")
                expected = min(x, y)
            }
            let report = try await ledger.integrity.verify()
            #expect(!report.ok)
            #expect(report.firstProblem?.position == expected, "\(report.problems)")
        }
    }

    @Test("truncating the sealed tail of the log is found through the seal")
    func truncatedAfterSeal() async throws {
        try await TestLedger.with { ledger in
            let events = try await Self.history(ledger)
            let seal = try #require(try await ledger.seal())
            #expect(seal.eventCount == Int64(events.count))
            let last = events.map(\.position).max()!
            // Remove the last events and the stream heads that would name them.
            try await Self.tamper(ledger, "DELETE FROM events WHERE position = \(last); DELETE FROM streams")
            let report = try await ledger.integrity.verify()
            #expect(!report.ok)
            #expect(report.problems.contains { $0.message.contains("seal #1") })
        }
    }

    @Test("a published digest proves the history up to its seal, and stops proving it once that history changes")
    func digestProof() async throws {
        try await TestLedger.with { ledger in
            let events = try await Self.history(ledger)
            let first = try #require(try await ledger.seal())
            var d = Events("p-d")
            _ = try await ledger.store.append([d.posted()])
            let second = try #require(try await ledger.seal())
            #expect(second.prevDigest == first.digest)
            #expect(second.eventCount == 1)
            #expect(try await ledger.seal() == nil, "nothing new to seal")
            #expect(try await ledger.integrity.verify(digest: first.digest).ok)
            #expect(try await ledger.integrity.verify(digest: Array(repeating: 7, count: 32)).ok == false)
            try await Self.tamper(ledger, "UPDATE events SET actor = 'mallory' WHERE position = \(events[0].position)")
            let report = try await ledger.integrity.verify(digest: first.digest)
            #expect(report.firstProblem?.position == events[0].position)
        }
    }

    @Test("an altered seal is found")
    func alteredSeal() async throws {
        try await TestLedger.with { ledger in
            _ = try await Self.history(ledger)
            let seal = try #require(try await ledger.seal())
            try await Self.tamper(ledger, "UPDATE seals SET event_count = event_count - 1")
            let report = try await ledger.integrity.verify()
            #expect(report.problems.contains { $0.position == seal.uptoPosition && $0.message.contains("seal #1") })
        }
    }
}
