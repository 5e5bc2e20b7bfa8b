import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import Testing

@Suite("Append")
struct AppendTests {
    @Test("a batch may post a posting and apply to it; versions, positions and chain are assigned")
    func batchAssignsVersionsPositionsAndChain() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            let batch = [e.posted(), e.applied("s-1"), e.selected("s-1")]
            let outcome = try await ledger.store.append(batch)
            #expect(outcome.replayed == false)
            #expect(outcome.events.map(\.version) == [1, 2, 3])
            #expect(outcome.events.map(\.event.id) == batch.map(\.id))
            let positions = outcome.events.map(\.position)
            #expect(positions == positions.sorted() && Set(positions).count == 3)
            #expect(outcome.events[0].prevHash.isEmpty)
            #expect(outcome.events[1].prevHash == outcome.events[0].hash)
            #expect(outcome.events[2].prevHash == outcome.events[1].hash)
            let key = try await ledger.proofKey()
            #expect(outcome.events.allSatisfy { $0.hashFormat == 2 && EventHash.verify($0, key: key) })
            #expect(!outcome.events.contains { EventHash.verify($0) }, "a format 2 hash verifies only with the ledger's key")
            let stream = try await ledger.store.stream("p-1")
            #expect(stream == outcome.events)
        }
    }

    @Test("a rejected batch records nothing, and names the failing event")
    func rejectedBatchIsAtomic() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            let batch = [e.posted(), e.applied("s-1"), e.selected("s-2")]
            let error = await #expect(throws: LedgerError.self) { try await ledger.store.append(batch) }
            #expect(error?.code == .notApplied)
            #expect(error?.eventIndex == 2)
            #expect(error?.eventID == batch[2].id)
            let (events, streams) = (try await ledger.count(), try await ledger.count("SELECT count(*) FROM streams"))
            #expect(events == 0 && streams == 0)
        }
    }

    @Test("rules see the stored state of earlier requests")
    func rulesUseStoredState() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            _ = try await ledger.store.append([e.posted(openings: 1)])
            _ = try await ledger.store.append([e.applied("s-1"), e.applied("s-2")])
            _ = try await ledger.store.append([e.selected("s-1")])
            let error = await #expect(throws: LedgerError.self) { try await ledger.store.append([e.selected("s-2")]) }
            #expect(error?.code == .openingsFilled)
            let missing = await #expect(throws: LedgerError.self) {
                var other = Events("p-404")
                _ = try await ledger.store.append([other.applied("s-1")])
            }
            #expect(missing?.code == .postingNotFound)
        }
    }

    @Test("re-sending a recorded batch returns the original results and records nothing")
    func idempotentRetry() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            let batch = [e.posted(), e.applied("s-1")]
            let first = try await ledger.store.append(batch)
            let again = try await ledger.store.append(batch)
            #expect(again.replayed)
            #expect(again.events == first.events)
            #expect(try await ledger.count() == 2)
        }
    }

    @Test("the same id with other content is id_conflict; a batch mixing recorded and new ids is id_conflict")
    func idConflicts() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            let posted = e.posted()
            _ = try await ledger.store.append([posted])
            var changed = posted
            changed.actor = "someone-else"
            let conflict = await #expect(throws: LedgerError.self) { try await ledger.store.append([changed]) }
            #expect(conflict?.code == .idConflict)
            let mixed = await #expect(throws: LedgerError.self) { try await ledger.store.append([posted, e.applied("s-1")]) }
            #expect(mixed?.code == .idConflict)
            #expect(mixed?.eventIndex == 0)
            #expect(try await ledger.count() == 1)
        }
    }

    @Test("a wrong expected_version is version_conflict and records nothing")
    func expectedVersion() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            _ = try await ledger.store.append([e.posted()])
            let wrong = e.make(.applied(studentID: "s-1", universityID: "u-1"), expectedVersion: 0)
            let error = await #expect(throws: LedgerError.self) { try await ledger.store.append([wrong]) }
            #expect(error?.code == .versionConflict)
            let right = e.make(.applied(studentID: "s-1", universityID: "u-1"), expectedVersion: 1)
            let ok = try await ledger.store.append([right])
            #expect(ok.events.first?.version == 2)
            #expect(try await ledger.count() == 2)
        }
    }

    @Test("payment references are unique per company across its postings")
    func paymentRefAcrossPostings() async throws {
        try await TestLedger.with { ledger in
            var a = Events("p-a")
            var b = Events("p-b")
            var c = Events("p-c")
            _ = try await ledger.store.append(a.placement("s-1") + b.placement("s-2") + c.placement("s-3", company: "c-2"))
            _ = try await ledger.store.append([a.paid("s-1", 100, ref: "ch_1")])
            let duplicate = await #expect(throws: LedgerError.self) { try await ledger.store.append([b.paid("s-2", 100, ref: "ch_1")]) }
            #expect(duplicate?.code == .duplicatePaymentRef)
            // Another company may use the same reference.
            _ = try await ledger.store.append([c.paid("s-3", 100, ref: "ch_1")])
            #expect(try await ledger.count("SELECT count(*) FROM payment_refs") == 2)
        }
    }

    @Test("occurred_at more than five minutes after the server's time is rejected")
    func futureEvents() async throws {
        try await TestLedger.with { ledger in
            let now = Int64(Date().timeIntervalSince1970) * 1_000_000
            let future = Event(
                id: UUID().uuidString.lowercased(), postingID: "p-1", occurredAt: Timestamp(microseconds: now + 10 * 60 * 1_000_000),
                data: .posted(companyID: "c-1", title: "t", openings: 1, stipend: .fixed(amountMinor: 1, currency: "USD")))
            let error = await #expect(throws: LedgerError.self) { try await ledger.store.append([future]) }
            #expect(error?.code == .occurredInFuture)
            let count = try await ledger.count()
            #expect(count == 0)
        }
    }

    @Test("a stale stream snapshot is rebuilt from the events")
    func staleSnapshotRebuilt() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-1")
            _ = try await ledger.store.append([e.posted(openings: 1), e.applied("s-1")])
            try await ledger.exec("UPDATE streams SET snapshot_format = 0, snapshot = '{}'")
            let error = await #expect(throws: LedgerError.self) { try await ledger.store.append([e.applied("s-1")]) }
            #expect(error?.code == .alreadyApplied)
            _ = try await ledger.store.append([e.selected("s-1")])
        }
    }
}
