@testable import LedgerCore
import Testing

/// The decision of a group transaction, without a database: company scope, idempotency, the
/// rules per request, versions, positions and hash chains.
@Suite("Group decision")
struct GroupDecisionTests {
    static func event(_ n: Int, _ posting: String, _ data: EventData) -> Event {
        Event(id: Fixture.uuid(n), postingID: posting, occurredAt: Fixture.t0.adding(seconds: Int64(n) * 60), actor: nil, data: data)
    }

    static func fresh(base: Int64 = 1 << 20) -> GroupDecision {
        GroupDecision(heads: [:], base: base, context: DecisionContext(now: Fixture.now), proofKey: Fixture.proofKey)
    }

    @Test("requests of one group are decided in turn: positions follow the base, versions and hash chains continue across requests")
    func positionsVersionsChains() throws {
        var group = Self.fresh()
        let first = try group.decide([Self.event(1, "p-1", E.posted()), Self.event(2, "p-1", E.applied("s-1"))], mode: .atomic).get()
        let second = try group.decide([Self.event(3, "p-1", E.applied("s-2"))], mode: .atomic).get()
        #expect(first.events.map(\.position) == [1 << 20, (1 << 20) + 1])
        #expect(second.events.map(\.position) == [(1 << 20) + 2])
        #expect((first.events + second.events).map(\.version) == [1, 2, 3])
        #expect(first.events[0].prevHash.isEmpty)
        #expect(first.events[1].prevHash == first.events[0].hash)
        #expect(second.events[0].prevHash == first.events[1].hash, "the second request chains onto the first")
        #expect(group.heads["p-1"]?.version == 3 && group.heads["p-1"]?.hash == second.events[0].hash)
        #expect(group.heads["p-1"]?.state.students.count == 2)
        #expect(group.touched == ["p-1"] && group.records.count == 3 && group.dataTexts.count == 3)
    }

    @Test("a rejected request leaves no trace: the next one is decided against the state before it")
    func rejectionLeavesNoTrace() throws {
        var group = Self.fresh()
        _ = try group.decide([Self.event(1, "p-1", E.posted(openings: 1))], mode: .atomic).get()
        let rejected = group.decide([Self.event(2, "p-1", E.applied("s-1")), Self.event(3, "p-1", E.selected("s-9"))], mode: .atomic)
        guard case .failure(let error) = rejected else { Issue.record("a selection without application was accepted"); return }
        #expect(error.code == .notApplied && error.eventIndex == 1)
        let next = try group.decide([Self.event(4, "p-1", E.applied("s-1"))], mode: .atomic).get()
        #expect(next.events.map(\.version) == [2], "s-1's rejected application was not recorded")
        #expect(group.records.count == 2)
    }

    @Test("a company may append only to its own postings, also one another request of the group just posted for another company")
    func companyScope() throws {
        var group = Self.fresh()
        _ = try group.decide([Self.event(1, "p-1", E.posted(company: "c-2"))], mode: .atomic).get()
        let foreign = group.decide([Self.event(2, "p-1", E.closed())], mode: .atomic, company: "c-1")
        guard case .failure(let error) = foreign else { Issue.record("c-1 appended to c-2's posting"); return }
        #expect(error.code == .forbidden)
        // Posting for another company, or a type a company may not append, is refused before any lock.
        #expect(throws: LedgerError.self) { try GroupDecision.checkCompanyEvents([Self.event(3, "p-2", E.posted(company: "c-2"))], company: "c-1") }
        #expect(throws: LedgerError.self) { try GroupDecision.checkCompanyEvents([Self.event(3, "p-2", E.applied("s-1"))], company: "c-1") }
        try GroupDecision.checkCompanyEvents([Self.event(3, "p-2", E.posted(company: "c-1")), Self.event(4, "p-2", E.closed())], company: "c-1")
        #expect(try group.decide([Self.event(4, "p-3", E.posted(company: "c-1")), Self.event(5, "p-3", E.closed())], mode: .atomic, company: "c-1").get().events.count == 2)
    }

    @Test("idempotency: a re-sent batch gets the originals; other content under a recorded id, or a mix of recorded and new ids, is id_conflict")
    func idempotency() throws {
        var group = Self.fresh()
        let original = try group.decide([Self.event(1, "p-1", E.posted()), Self.event(2, "p-1", E.applied("s-1"))], mode: .atomic).get()
        let replay = try group.decide([Self.event(1, "p-1", E.posted()), Self.event(2, "p-1", E.applied("s-1"))], mode: .atomic).get()
        #expect(replay.replayed && replay.events == original.events)
        #expect(group.records.count == 2, "a replay records nothing")
        let changed = group.decide([Self.event(2, "p-1", E.applied("s-2"))], mode: .atomic)
        guard case .failure(let conflict) = changed else { Issue.record("other content under a recorded id was accepted"); return }
        #expect(conflict.code == .idConflict)
        let mixed = group.decide([Self.event(1, "p-1", E.posted()), Self.event(3, "p-1", E.applied("s-3"))], mode: .atomic)
        guard case .failure(let mix) = mixed else { Issue.record("a mix of recorded and new ids was accepted"); return }
        #expect(mix.code == .idConflict && mix.eventIndex == 0)
        // Import mode skips what is recorded and records the rest.
        let imported = try group.decide([Self.event(1, "p-1", E.posted()), Self.event(3, "p-1", E.applied("s-3"))], mode: .prefix).get()
        #expect(imported.skipped == 1 && imported.events.map(\.version) == [3])
    }

    @Test("import mode records the prefix before a broken rule and returns the rejection instead of failing")
    func prefixMode() throws {
        var group = Self.fresh()
        let outcome = try group.decide(
            [Self.event(1, "p-1", E.posted()), Self.event(2, "p-1", E.applied("s-1")), Self.event(3, "p-1", E.posted())], mode: .prefix
        ).get()
        #expect(outcome.events.count == 2)
        #expect(outcome.rejection?.code == .postingExists && outcome.rejection?.eventIndex == 2)
        #expect(group.records.count == 2)
    }
}
