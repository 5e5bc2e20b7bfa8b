@testable import LedgerCore
import Testing

@Suite("Batch decisions")
struct BatchTests {
    /// Builds events with the scenario clock of a `Ledger` (it is only used for ids and times here).
    private struct Builder {
        var l = Ledger()
        mutating func callAsFunction(_ data: EventData, posting: String = "p-1", expectedVersion: Int64? = nil) -> Event {
            l.make(data, posting: posting, expectedVersion: expectedVersion)
        }
    }

    @Test func laterEventsSeeEarlierOnesInTheSameBatch() {
        var e = Builder()
        let events = [e(E.posted()), e(E.applied("s-1")), e(E.selected("s-1")), e(E.hours("s-1", 60))]
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Fixture.now)
        let (accepted, error) = BatchDecision.decide(events, states: &states, context: &context)
        #expect(error == nil)
        #expect(accepted.map(\.event) == events)
        #expect(accepted.map(\.version) == [1, 2, 3, 4])
        #expect(states["p-1"]?.version == 4)
        #expect(states["p-1"]?.students["s-1"]?.minutesLogged == 60)
    }

    @Test func aBatchWithoutThePostingFails() {
        var e = Builder()
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Fixture.now)
        let (accepted, error) = BatchDecision.decide([e(E.applied("s-1"))], states: &states, context: &context)
        #expect(accepted.isEmpty)
        #expect(error?.code == .postingNotFound)
        #expect(error?.eventIndex == 0)
        #expect(states.isEmpty)
    }

    @Test func stopsAtTheFirstBrokenRuleAndReturnsTheAcceptedPrefix() throws {
        var e = Builder()
        let events = [
            e(E.posted()), e(E.applied("s-1")), e(E.applied("s-1")), e(E.selected("s-1")),
        ]
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Fixture.now)
        let (accepted, error) = BatchDecision.decide(events, states: &states, context: &context)
        #expect(accepted.map(\.event) == Array(events.prefix(2)))
        let failure = try #require(error)
        #expect(failure.code == .alreadyApplied)
        #expect(failure.eventIndex == 2)
        #expect(failure.eventID == events[2].id)
        #expect(states["p-1"]?.version == 2, "states are left as of the accepted prefix")
        #expect(states["p-1"]?.students["s-1"]?.isSelected == false, "events after the failure are not applied")
    }

    @Test func indexOffsetShiftsTheReportedIndex() {
        var e = Builder()
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Fixture.now)
        let events = [e(E.posted()), e(E.closed()), e(E.closed())]
        let (accepted, error) = BatchDecision.decide(events, states: &states, context: &context, indexOffset: 500)
        #expect(accepted.count == 2)
        #expect(error?.code == .postingClosed)
        #expect(error?.eventIndex == 502)
        #expect(error?.eventID == events[2].id)
    }

    @Test func severalStreamsInOneBatchGetTheirOwnVersions() {
        var e = Builder()
        let events = [
            e(E.posted(), posting: "p-1"), e(E.posted(), posting: "p-2"), e(E.applied("s-1"), posting: "p-2"),
            e(E.applied("s-1"), posting: "p-1"), e(E.applied("s-2"), posting: "p-2"),
        ]
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Fixture.now)
        let (accepted, error) = BatchDecision.decide(events, states: &states, context: &context)
        #expect(error == nil)
        #expect(accepted.map(\.version) == [1, 1, 2, 2, 3])
        #expect(states["p-1"]?.version == 2)
        #expect(states["p-2"]?.version == 3)
    }

    @Test func batchesBuildOnExistingStates() {
        var e = Builder()
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Fixture.now)
        let first = BatchDecision.decide([e(E.posted()), e(E.applied("s-1"))], states: &states, context: &context)
        #expect(first.error == nil)
        let second = BatchDecision.decide([e(E.selected("s-1"), expectedVersion: 2)], states: &states, context: &context)
        #expect(second.error == nil)
        #expect(second.accepted.first?.version == 3)
        let stale = BatchDecision.decide([e(E.closed(), expectedVersion: 2)], states: &states, context: &context)
        #expect(stale.error?.code == .versionConflict)
        #expect(stale.error?.eventIndex == 0)
    }

    @Test func expectedVersionsWithinOneBatch() {
        var e = Builder()
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Fixture.now)
        let ok = BatchDecision.decide(
            [e(E.posted(), expectedVersion: 0), e(E.applied("s-1"), expectedVersion: 1), e(E.applied("s-2"), expectedVersion: 2)],
            states: &states, context: &context)
        #expect(ok.error == nil)
        #expect(ok.accepted.count == 3)
    }

    @Test func theSamePaymentRefTwiceInOneBatchIsRejected() {
        var e = Builder()
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Fixture.now)
        let events = [
            e(E.posted(company: "c-1"), posting: "p-1"), e(E.posted(company: "c-1"), posting: "p-2"),
            e(E.posted(company: "c-2"), posting: "p-3"),
            e(E.applied("s-1"), posting: "p-1"), e(E.selected("s-1"), posting: "p-1"),
            e(E.applied("s-1"), posting: "p-2"), e(E.selected("s-1"), posting: "p-2"),
            e(E.applied("s-1"), posting: "p-3"), e(E.selected("s-1"), posting: "p-3"),
            e(E.paid("s-1", 100, ref: "ch_1"), posting: "p-1"),
            e(E.paid("s-1", 100, ref: "ch_1"), posting: "p-3"),  // another company: fine
            e(E.paid("s-1", 100, ref: "ch_1"), posting: "p-2"),  // same company: duplicate
        ]
        let (accepted, error) = BatchDecision.decide(events, states: &states, context: &context)
        #expect(accepted.count == 11)
        #expect(error?.code == .duplicatePaymentRef)
        #expect(error?.eventIndex == 11)
        #expect(context.usedPaymentRefs == [
            CompanyPaymentRef(companyID: "c-1", paymentRef: "ch_1"), CompanyPaymentRef(companyID: "c-2", paymentRef: "ch_1"),
        ])
    }

    @Test func aFutureEventFailsTheBatchAtItsIndex() {
        var e = Builder()
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Fixture.t0)
        var future = e(E.applied("s-1"))
        future.occurredAt = Fixture.t0.adding(seconds: 301)
        let (accepted, error) = BatchDecision.decide([e(E.posted()), future], states: &states, context: &context)
        #expect(accepted.count == 1)
        #expect(error?.code == .occurredInFuture)
        #expect(error?.field == "occurred_at")
        #expect(error?.eventIndex == 1)
        #expect(error?.eventID == future.id)
    }

    @Test func emptyBatchDecidesNothing() {
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Fixture.now)
        let (accepted, error) = BatchDecision.decide([], states: &states, context: &context)
        #expect(accepted.isEmpty)
        #expect(error == nil)
        #expect(states.isEmpty)
    }

    @Test func parsedBodyDecides() throws {
        // End to end: bytes → events → decision, as an append does.
        let body = #"""
            [
              {"id":"00000000-0000-4000-8000-000000000001","type":"posted","posting_id":"p-7","occurred_at":"2026-03-01T09:00:00Z",
               "expected_version":0,"data":{"company_id":"c-1","title":"SEO review","openings":1,
               "stipend":{"kind":"hourly","rate_minor":3000,"max_hours":20,"currency":"GBP"}}},
              {"id":"00000000-0000-4000-8000-000000000002","type":"applied","posting_id":"p-7","occurred_at":"2026-03-01T10:00:00+01:00",
               "data":{"student_id":"s-1","university_id":"u-ucl"}},
              {"id":"00000000-0000-4000-8000-000000000003","type":"selected","posting_id":"p-7","occurred_at":"2026-03-02T09:00:00Z",
               "data":{"student_id":"s-1"}},
              {"id":"00000000-0000-4000-8000-000000000004","type":"paid","posting_id":"p-7","occurred_at":"2026-03-03T09:00:00Z",
               "data":{"student_id":"s-1","amount_minor":100,"currency":"USD","payment_ref":"ch_1"}}
            ]
            """#
        let events = try BatchDecision.parseBody(Array(body.utf8))
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Fixture.now)
        let (accepted, error) = BatchDecision.decide(events, states: &states, context: &context)
        #expect(accepted.count == 3)
        #expect(error?.code == .currencyMismatch)
        #expect(error?.eventIndex == 3)
        #expect(error?.eventID == "00000000-0000-4000-8000-000000000004")
        #expect(error?.json["error"]?["code"] == .string("currency_mismatch"))
    }
}
