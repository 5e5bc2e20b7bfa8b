@testable import LedgerCore
import Testing

/// One test (or a few) per domain error code of the contract's type table: each shows the rejection
/// and a valid counterpart that passes.
@Suite("Rules")
struct RulesTests {
    // MARK: posting_exists / posting_not_found

    @Test func postingExists() {
        var l = Ledger()
        #expect(l.send(E.posted()) == nil, "the first event of a stream may be posted")
        #expect(l.send(E.posted())?.code == .postingExists)
        #expect(l.send(E.posted(company: "c-2"))?.code == .postingExists)
        #expect(l.state().version == 1)
        #expect(l.send(E.posted(), posting: "p-2") == nil, "another stream may be posted")
    }

    static let nonPostedEvents: [EventData] = [
        E.applied("s-1"), E.selected("s-1"), E.hours("s-1", 60), E.delivered("s-1"), E.reviewed("s-1", accepted: true),
        E.paid("s-1", 100, ref: "ch_1"), E.reversed("s-1", ref: "ch_1"), E.withdrawn("s-1"), E.closed(),
    ]

    @Test func nonPostedEventsCoverEveryOtherType() {
        #expect(Set(Self.nonPostedEvents.map(\.type)) == Set(EventType.allCases).subtracting([.posted]))
    }

    @Test(arguments: nonPostedEvents)
    func postingNotFound(_ data: EventData) {
        var l = Ledger()
        let error = l.send(data)
        #expect(error?.code == .postingNotFound)
        #expect(error?.code.isDomainRule == true)
        #expect(l.states["p-1"] == nil, "nothing is recorded for the missing stream")
        // Another posting existing does not help.
        l.post("p-2")
        #expect(l.send(data)?.code == .postingNotFound)
    }

    @Test func postingFoundOnceItIsPosted() {
        var l = Ledger()
        l.post()
        #expect(l.send(E.applied("s-1")) == nil)
        #expect(l.send(E.closed()) == nil)
    }

    // MARK: posting_closed

    @Test func applyingToAClosedPostingIsRejected() {
        var l = Ledger()
        l.post()
        #expect(l.send(E.applied("s-1")) == nil, "open: applications allowed")
        l.ok(E.closed())
        #expect(l.send(E.applied("s-2"))?.code == .postingClosed)
    }

    @Test func selectingOnAClosedPostingIsRejected() {
        var l = Ledger()
        l.post()
        l.ok(E.applied("s-1"))
        l.ok(E.applied("s-2"))
        #expect(l.send(E.selected("s-1")) == nil, "open: selections allowed")
        l.ok(E.closed())
        #expect(l.send(E.selected("s-2"))?.code == .postingClosed)
    }

    @Test func closingTwiceIsRejected() {
        var l = Ledger()
        l.post()
        #expect(l.send(E.closed()) == nil)
        #expect(l.send(E.closed())?.code == .postingClosed)
        #expect(l.state().isOpen == false)
    }

    @Test func placementsGoOnAfterClosing() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        l.ok(E.applied("s-2"))
        l.ok(E.closed())
        l.ok(E.hours("s-1", 120))
        l.ok(E.delivered("s-1"))
        l.ok(E.reviewed("s-1", accepted: true))
        l.ok(E.paid("s-1", 50_000, ref: "ch_1"))
        l.ok(E.reversed("s-1", ref: "ch_1"))
        l.ok(E.withdrawn("s-2"))
        #expect(l.state().version == 11)
    }

    // MARK: already_applied

    @Test func applyingTwiceIsRejected() {
        var l = Ledger()
        l.post()
        l.ok(E.applied("s-1"))
        #expect(l.send(E.applied("s-1"))?.code == .alreadyApplied)
        #expect(l.send(E.applied("s-1", university: "u-2"))?.code == .alreadyApplied)
        #expect(l.send(E.applied("s-2")) == nil, "another student may apply")
        #expect(l.send(E.applied("s-1"), posting: "p-2")?.code == .postingNotFound)
    }

    @Test func applyingAgainAfterWithdrawingIsRejected() {
        var l = Ledger()
        l.post()
        l.ok(E.applied("s-1"))
        l.ok(E.withdrawn("s-1"))
        #expect(l.send(E.applied("s-1"))?.code == .alreadyApplied)
    }

    @Test func theSameStudentMayApplyToAnotherPosting() {
        var l = Ledger()
        l.post()
        l.post("p-2")
        l.ok(E.applied("s-1"))
        #expect(l.send(E.applied("s-1"), posting: "p-2") == nil)
    }

    // MARK: not_applied

    @Test func selectingWithoutApplicationIsRejected() {
        var l = Ledger()
        l.post()
        #expect(l.send(E.selected("s-1"))?.code == .notApplied)
        l.ok(E.applied("s-1"))
        #expect(l.send(E.selected("s-1")) == nil)
    }

    @Test func selectingAfterTheApplicationWasWithdrawnIsRejected() {
        var l = Ledger()
        l.post()
        l.ok(E.applied("s-1"))
        l.ok(E.withdrawn("s-1"))
        #expect(l.send(E.selected("s-1"))?.code == .notApplied)
    }

    @Test func withdrawingWithoutApplicationIsRejected() {
        var l = Ledger()
        l.post()
        #expect(l.send(E.withdrawn("s-1"))?.code == .notApplied)
        l.ok(E.applied("s-1"))
        #expect(l.send(E.withdrawn("s-1")) == nil)
        #expect(l.student("s-1")?.withdrawn == true)
        #expect(l.student("s-1")?.isSelected == false)
    }

    // MARK: already_selected

    @Test func selectingTwiceIsRejected() {
        var l = Ledger()
        l.post(openings: 3)
        l.place("s-1")
        #expect(l.send(E.selected("s-1"))?.code == .alreadySelected)
        l.ok(E.applied("s-2"))
        #expect(l.send(E.selected("s-2")) == nil)
    }

    // MARK: openings_filled

    @Test func selectingBeyondTheOpeningsIsRejected() {
        var l = Ledger()
        l.post(openings: 2)
        for s in ["s-1", "s-2", "s-3"] { l.ok(E.applied(s)) }
        #expect(l.send(E.selected("s-1")) == nil)
        #expect(l.send(E.selected("s-2")) == nil)
        #expect(l.state().activePlacements == 2)
        #expect(l.send(E.selected("s-3"))?.code == .openingsFilled)
    }

    @Test func aWithdrawnPlacementFreesAnOpening() {
        var l = Ledger()
        l.post(openings: 1)
        l.place("s-1")
        l.ok(E.applied("s-2"))
        #expect(l.send(E.selected("s-2"))?.code == .openingsFilled)
        l.ok(E.withdrawn("s-1"))
        #expect(l.state().activePlacements == 0)
        #expect(l.send(E.selected("s-2")) == nil)
        #expect(l.state().activePlacements == 1)
    }

    @Test func aWithdrawnApplicationDoesNotTakeAnOpening() {
        var l = Ledger()
        l.post(openings: 1)
        l.ok(E.applied("s-1"))
        l.ok(E.applied("s-2"))
        l.ok(E.withdrawn("s-1"))
        #expect(l.send(E.selected("s-2")) == nil)
    }

    // MARK: not_selected

    @Test(arguments: [E.hours("s-1", 60), E.delivered("s-1"), E.paid("s-1", 100, ref: "ch_1")])
    func actingOnAPlacementThatDoesNotExistIsRejected(_ data: EventData) {
        var l = Ledger()
        l.post()
        #expect(l.send(data)?.code == .notSelected, "never applied")
        l.ok(E.applied("s-1"))
        #expect(l.send(data)?.code == .notSelected, "applied, not selected")
        l.ok(E.selected("s-1"))
        #expect(l.send(data) == nil, "selected")
    }

    @Test func payingAWithdrawnApplicantIsRejected() {
        var l = Ledger()
        l.post()
        l.ok(E.applied("s-1"))
        l.ok(E.withdrawn("s-1"))
        #expect(l.send(E.paid("s-1", 100, ref: "ch_1"))?.code == .notSelected)
    }

    // MARK: placement_withdrawn

    @Test(arguments: [E.hours("s-1", 60), E.delivered("s-1")])
    func workingOnAWithdrawnPlacementIsRejected(_ data: EventData) {
        var l = Ledger()
        l.post()
        l.place("s-1")
        l.place("s-2")
        l.ok(E.withdrawn("s-1"))
        #expect(l.send(data)?.code == .placementWithdrawn)
        // The other placement goes on.
        let other: EventData =
            switch data {
            case .hoursLogged: E.hours("s-2", 60)
            default: E.delivered("s-2")
            }
        #expect(l.send(other) == nil)
    }

    @Test func paymentsAreStillAllowedAfterWithdrawal() {
        var l = Ledger()
        l.post(stipend: Fixture.hourlyUSD)
        l.place("s-1")
        l.ok(E.hours("s-1", 90))
        l.ok(E.withdrawn("s-1"))
        #expect(l.send(E.paid("s-1", 3_000, ref: "ch_1")) == nil)
        #expect(l.send(E.reversed("s-1", ref: "ch_1")) == nil)
        #expect(l.student("s-1")?.paidMinor == 0)
    }

    // MARK: negative_hours_total

    @Test func correctionsMayNotTakeTheTotalBelowZero() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        #expect(l.send(E.hours("s-1", -1))?.code == .negativeHoursTotal, "nothing logged yet")
        l.ok(E.hours("s-1", 60))
        #expect(l.send(E.hours("s-1", -61))?.code == .negativeHoursTotal)
        #expect(l.student("s-1")?.minutesLogged == 60)
        #expect(l.send(E.hours("s-1", -60)) == nil, "down to exactly 0 is fine")
        #expect(l.student("s-1")?.minutesLogged == 0)
        #expect(l.send(E.hours("s-1", -1))?.code == .negativeHoursTotal)
        l.ok(E.hours("s-1", 30))
        #expect(l.send(E.hours("s-1", -20)) == nil)
        #expect(l.student("s-1")?.minutesLogged == 10)
    }

    @Test func totalsArePerPlacement() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        l.place("s-2")
        l.ok(E.hours("s-1", 600))
        #expect(l.send(E.hours("s-2", -30))?.code == .negativeHoursTotal, "s-1's minutes do not count for s-2")
    }

    // MARK: delivery_pending / already_accepted

    @Test func deliveringWhileADeliveryAwaitsReviewIsRejected() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        #expect(l.send(E.delivered("s-1")) == nil)
        #expect(l.send(E.delivered("s-1"))?.code == .deliveryPending)
        l.ok(E.reviewed("s-1", accepted: false))
        #expect(l.send(E.delivered("s-1")) == nil, "after a requested revision the student delivers again")
    }

    @Test func deliveringAfterAcceptanceIsRejected() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        l.ok(E.delivered("s-1"))
        l.ok(E.reviewed("s-1", accepted: true))
        #expect(l.send(E.delivered("s-1"))?.code == .alreadyAccepted)
    }

    // MARK: nothing_delivered

    @Test func reviewingWithoutADeliveryIsRejected() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        #expect(l.send(E.reviewed("s-1", accepted: true))?.code == .nothingDelivered)
        #expect(l.send(E.reviewed("s-9", accepted: true))?.code == .nothingDelivered, "unknown student")
        l.ok(E.delivered("s-1"))
        #expect(l.send(E.reviewed("s-1", accepted: true)) == nil)
    }

    @Test(arguments: [true, false])
    func reviewingTheSameDeliveryTwiceIsRejected(_ accepted: Bool) {
        var l = Ledger()
        l.post()
        l.place("s-1")
        l.ok(E.delivered("s-1"))
        l.ok(E.reviewed("s-1", accepted: accepted))
        #expect(l.send(E.reviewed("s-1", accepted: true))?.code == .nothingDelivered)
        #expect(l.send(E.reviewed("s-1", accepted: false))?.code == .nothingDelivered)
    }

    @Test func revisionFlow() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        l.ok(E.delivered("s-1"))
        l.ok(E.reviewed("s-1", accepted: false, rating: 2))
        #expect(l.student("s-1")?.latestReviewAccepted == false)
        l.ok(E.delivered("s-1"))
        l.ok(E.reviewed("s-1", accepted: false, rating: 3))
        l.ok(E.delivered("s-1"))
        l.ok(E.reviewed("s-1", accepted: true, rating: 5))
        let s = l.student("s-1")
        #expect(s?.latestReviewAccepted == true)
        #expect(s?.rating == 5, "the latest review's rating")
        #expect(s?.deliveryPending == false)
    }

    // MARK: currency_mismatch

    @Test func paymentCurrencyMustMatchTheStipend() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        #expect(l.send(E.paid("s-1", 100, ref: "ch_1", currency: "EUR"))?.code == .currencyMismatch)
        #expect(l.send(E.paid("s-1", 100, ref: "ch_1", currency: "USD")) == nil, "the rejected ref was not consumed")
        l.post("p-2", stipend: .hourly(rateMinor: 1_000, maxHours: 5, currency: "EUR"))
        l.place("s-1", posting: "p-2")
        #expect(l.send(E.paid("s-1", 100, ref: "ch_2", currency: "USD"), posting: "p-2")?.code == .currencyMismatch)
        #expect(l.send(E.paid("s-1", 100, ref: "ch_2", currency: "EUR"), posting: "p-2") == nil)
    }

    // MARK: duplicate_payment_ref

    @Test func refAlreadyUsedByTheCompanyElsewhereIsRejected() {
        var l = Ledger(usedPaymentRefs: [CompanyPaymentRef(companyID: "c-1", paymentRef: "ch_1")])
        l.post(company: "c-1")
        l.place("s-1")
        #expect(l.send(E.paid("s-1", 100, ref: "ch_1"))?.code == .duplicatePaymentRef)
        #expect(l.send(E.paid("s-1", 100, ref: "ch_2")) == nil)
    }

    @Test func refUsedOnAnotherPostingOfTheSameCompanyIsRejected() {
        var l = Ledger()
        l.post("p-1", company: "c-1")
        l.post("p-2", company: "c-1")
        l.place("s-1", posting: "p-1")
        l.place("s-2", posting: "p-2")
        l.ok(E.paid("s-1", 100, ref: "ch_1"), posting: "p-1")
        #expect(l.context.usedPaymentRefs.contains(CompanyPaymentRef(companyID: "c-1", paymentRef: "ch_1")))
        #expect(l.send(E.paid("s-2", 100, ref: "ch_1"), posting: "p-2")?.code == .duplicatePaymentRef)
        #expect(l.send(E.paid("s-1", 100, ref: "ch_1"), posting: "p-1")?.code == .duplicatePaymentRef, "nor twice on one placement")
    }

    @Test func anotherCompanyMayReuseARef() {
        var l = Ledger(usedPaymentRefs: [CompanyPaymentRef(companyID: "c-1", paymentRef: "ch_1")])
        l.post("p-2", company: "c-2")
        l.place("s-1", posting: "p-2")
        #expect(l.send(E.paid("s-1", 100, ref: "ch_1"), posting: "p-2") == nil)
    }

    @Test func aReversedPaymentsRefStaysUsed() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        l.ok(E.paid("s-1", 100, ref: "ch_1"))
        l.ok(E.reversed("s-1", ref: "ch_1"))
        #expect(l.send(E.paid("s-1", 100, ref: "ch_1"))?.code == .duplicatePaymentRef)
        #expect(l.send(E.paid("s-1", 100, ref: "ch_1b")) == nil)
    }

    @Test func aRejectedPaymentDoesNotConsumeItsRef() throws {
        var l = Ledger()
        l.post()
        l.place("s-1")
        let state = l.state()
        var context = l.context
        let tooMuch = l.make(E.paid("s-1", 50_001, ref: "ch_1"))
        let error = caught { () throws(LedgerError) in try state.deciding(tooMuch, context: &context) }
        #expect(error?.code == .paymentExceedsCap)
        #expect(context.usedPaymentRefs.isEmpty, "deciding leaves the context alone when it rejects")
        let fine = l.make(E.paid("s-1", 50_000, ref: "ch_1"))
        let next = try state.deciding(fine, context: &context)
        #expect(context.usedPaymentRefs == [CompanyPaymentRef(companyID: "c-1", paymentRef: "ch_1")])
        #expect(next.students["s-1"]?.paidMinor == 50_000)
    }

    // MARK: payment_exceeds_cap

    @Test func fixedStipendCap() {
        var l = Ledger()
        l.post(stipend: .fixed(amountMinor: 50_000, currency: "USD"))
        l.place("s-1")
        #expect(l.send(E.paid("s-1", 50_001, ref: "ch_0"))?.code == .paymentExceedsCap)
        #expect(l.send(E.paid("s-1", 30_000, ref: "ch_1")) == nil)
        #expect(l.send(E.paid("s-1", 20_001, ref: "ch_2"))?.code == .paymentExceedsCap, "one over the cap")
        #expect(l.send(E.paid("s-1", 20_000, ref: "ch_3")) == nil, "exactly at the cap")
        #expect(l.student("s-1")?.paidMinor == 50_000)
        #expect(l.send(E.paid("s-1", 1, ref: "ch_4"))?.code == .paymentExceedsCap)
    }

    @Test func hourlyCapIsRateTimesMaxHoursNotEarned() {
        var l = Ledger()
        l.post(stipend: Fixture.hourlyUSD)  // 2_000 × 10 = 20_000
        l.place("s-1")
        #expect(l.send(E.paid("s-1", 20_001, ref: "ch_1"))?.code == .paymentExceedsCap)
        #expect(l.send(E.paid("s-1", 20_000, ref: "ch_2")) == nil, "paying in advance up to the cap")
    }

    @Test func aReversalFreesTheCap() {
        var l = Ledger()
        l.post(stipend: .fixed(amountMinor: 1_000, currency: "USD"))
        l.place("s-1")
        l.ok(E.paid("s-1", 600, ref: "ch_1"))
        l.ok(E.paid("s-1", 400, ref: "ch_2"))
        #expect(l.send(E.paid("s-1", 600, ref: "ch_3"))?.code == .paymentExceedsCap)
        l.ok(E.reversed("s-1", ref: "ch_1"))
        #expect(l.send(E.paid("s-1", 601, ref: "ch_3"))?.code == .paymentExceedsCap)
        #expect(l.send(E.paid("s-1", 600, ref: "ch_3")) == nil)
    }

    @Test func capsArePerPlacement() {
        var l = Ledger()
        l.post(stipend: .fixed(amountMinor: 1_000, currency: "USD"))
        l.place("s-1")
        l.place("s-2")
        l.ok(E.paid("s-1", 1_000, ref: "ch_1"))
        #expect(l.send(E.paid("s-2", 1_000, ref: "ch_2")) == nil)
    }

    // MARK: payment_not_found / payment_already_reversed

    @Test func reversingAnUnknownPaymentIsRejected() {
        var l = Ledger()
        l.post()
        l.post("p-2")
        l.place("s-1")
        l.place("s-2")
        l.place("s-1", posting: "p-2")
        l.ok(E.paid("s-1", 100, ref: "ch_1"))
        l.ok(E.paid("s-1", 100, ref: "ch_2"), posting: "p-2")
        #expect(l.send(E.reversed("s-1", ref: "ch_404"))?.code == .paymentNotFound)
        #expect(l.send(E.reversed("s-2", ref: "ch_1"))?.code == .paymentNotFound, "another student's payment")
        #expect(l.send(E.reversed("s-1", ref: "ch_2"))?.code == .paymentNotFound, "a payment on another posting")
        #expect(l.send(E.reversed("s-9", ref: "ch_1"))?.code == .paymentNotFound, "unknown student")
        #expect(l.send(E.reversed("s-1", ref: "ch_1")) == nil)
    }

    @Test func reversingTwiceIsRejected() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        l.ok(E.paid("s-1", 100, ref: "ch_1"))
        l.ok(E.paid("s-1", 100, ref: "ch_2"))
        #expect(l.send(E.reversed("s-1", ref: "ch_1")) == nil)
        #expect(l.send(E.reversed("s-1", ref: "ch_1"))?.code == .paymentAlreadyReversed)
        #expect(l.send(E.reversed("s-1", ref: "ch_2")) == nil, "the other payment is still reversible")
        #expect(l.student("s-1")?.paidMinor == 0)
    }

    // MARK: already_withdrawn

    @Test func withdrawingAnApplicationTwiceIsRejected() {
        var l = Ledger()
        l.post()
        l.ok(E.applied("s-1"))
        #expect(l.send(E.withdrawn("s-1")) == nil)
        #expect(l.send(E.withdrawn("s-1"))?.code == .alreadyWithdrawn)
    }

    @Test func withdrawingAPlacementTwiceIsRejected() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        l.ok(E.delivered("s-1"))
        l.ok(E.reviewed("s-1", accepted: true))
        #expect(l.send(E.withdrawn("s-1")) == nil, "a placement may be cancelled even after acceptance")
        #expect(l.send(E.withdrawn("s-1"))?.code == .alreadyWithdrawn)
    }

    // MARK: occurred_in_future

    @Test func occurredAtMayBeAtMostFiveMinutesAhead() throws {
        var l = Ledger(now: Fixture.now, start: Fixture.t0)
        let limit = Fixture.now.adding(seconds: 300)
        #expect(l.send(E.posted(), at: limit) == nil, "now + 5 min passes")
        let tooLate = Timestamp(microseconds: limit.microseconds + 1)
        let sent = l.send(E.applied("s-1"), at: tooLate)
        let error = try #require(sent)
        #expect(error.code == .occurredInFuture)
        #expect(error.field == "occurred_at")
        #expect(l.send(E.posted(), posting: "p-2", at: tooLate)?.code == .occurredInFuture)
        #expect(l.send(E.applied("s-1"), at: Fixture.now) == nil)
    }

    @Test func occurredAtMayBeLongAgo() {
        var l = Ledger(now: Fixture.now, start: Timestamp(rfc3339: "2001-01-01T00:00:00Z")!)
        l.post()
        #expect(l.send(E.applied("s-1"), at: Timestamp(rfc3339: "1990-01-01T00:00:00Z")) == nil)
    }

    // MARK: version_conflict

    @Test func expectedVersionZeroMeansANewStream() {
        var l = Ledger()
        #expect(l.send(E.posted(), expectedVersion: 1)?.code == .versionConflict)
        #expect(l.send(E.posted(), expectedVersion: 0) == nil)
        #expect(l.send(E.applied("s-1"), expectedVersion: 0)?.code == .versionConflict, "the stream exists now")
    }

    @Test func expectedVersionMustMatchTheStream() {
        var l = Ledger()
        l.post()
        l.ok(E.applied("s-1"))
        #expect(l.state().version == 2)
        #expect(l.send(E.applied("s-2"), expectedVersion: 1)?.code == .versionConflict)
        #expect(l.send(E.applied("s-2"), expectedVersion: 3)?.code == .versionConflict)
        #expect(l.send(E.applied("s-2"), expectedVersion: 2) == nil)
        #expect(l.send(E.applied("s-3"), expectedVersion: 3) == nil)
        #expect(l.send(E.applied("s-4")) == nil, "no expected_version: no check")
        let conflict = l.send(E.applied("s-5"), expectedVersion: 0)
        #expect(conflict?.code == .versionConflict)
        #expect(conflict?.code.isDomainRule == false, "version_conflict is a 409, not a 422")
    }

    @Test func expectedVersionOnAMissingStreamIsAConflictNotNotFound() {
        var l = Ledger()
        #expect(l.send(E.applied("s-1"), expectedVersion: 3)?.code == .versionConflict)
        #expect(l.send(E.applied("s-1"), expectedVersion: 0)?.code == .postingNotFound)
    }

    // MARK: State

    @Test func versionsAreContiguousPerStream() {
        var l = Ledger()
        l.post()
        l.post("p-2")
        l.ok(E.applied("s-1"))
        l.ok(E.applied("s-1"), posting: "p-2")
        l.ok(E.applied("s-2"))
        #expect(l.state("p-1").version == 3)
        #expect(l.state("p-2").version == 2)
    }

    @Test func postedStateIsRecorded() {
        var l = Ledger()
        l.ok(E.posted(company: "c-9", title: "Pricing analysis", openings: 4, stipend: Fixture.hourlyUSD))
        let s = l.state()
        #expect(s.exists)
        #expect(s.companyID == "c-9")
        #expect(s.title == "Pricing analysis")
        #expect(s.openings == 4)
        #expect(s.stipend == Fixture.hourlyUSD)
        #expect(s.isOpen)
        #expect(s.createdAt == Fixture.t0.adding(seconds: 60))
        #expect(!PostingState(postingID: "p-x").exists)
    }

    @Test func everyDomainCodeIsCoveredByTheseRules() {
        // The codes answered with 422 are exactly the domain-rule codes of the contract.
        let domain = Set(ErrorCode.allCases.filter(\.isDomainRule).map(\.rawValue))
        #expect(
            domain == [
                "posting_exists", "posting_not_found", "posting_closed", "already_applied", "not_applied",
                "already_selected", "openings_filled", "not_selected", "placement_withdrawn", "negative_hours_total",
                "delivery_pending", "already_accepted", "nothing_delivered", "currency_mismatch", "duplicate_payment_ref",
                "payment_exceeds_cap", "payment_not_found", "payment_already_reversed", "already_withdrawn",
                "occurred_in_future",
            ])
    }
}
