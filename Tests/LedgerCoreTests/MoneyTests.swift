@testable import LedgerCore
import Testing

@Suite("Money and placement status")
struct MoneyTests {
    private func hourlyEarned(rate: Int64, maxHours: Int64 = 2000, minutes: Int64) -> Int64 {
        PlacementMoney.earned(
            stipend: .hourly(rateMinor: rate, maxHours: maxHours, currency: "USD"), minutesLogged: minutes,
            latestReviewAccepted: nil)
    }

    // MARK: Hourly

    /// (rate per hour, minutes, expected): expected = round_half_up(rate × minutes / 60), worked out by hand.
    @Test(arguments: [
        (Int64(6_000), Int64(60), Int64(6_000)),  // one hour
        (6_000, 90, 9_000),
        (100, 20, 33),  // 33.33 → 33
        (100, 10, 17),  // 16.67 → 17
        (1, 30, 1),  // 0.5 → 1: exact half rounds up
        (3, 10, 1),  // 0.5 → 1
        (1, 90, 2),  // 1.5 → 2
        (5, 18, 2),  // 1.5 → 2
        (1, 29, 0),  // 0.483 → 0
        (1, 31, 1),  // 0.517 → 1
        (7, 1, 0),  // 0.1167 → 0
        (59, 1, 1),  // 0.983 → 1
        (2_000, 599, 19_967),  // 19 966.67 → 19 967
        (1, 0, 0),
    ])
    func hourlyEarnedRoundsHalfUp(rate: Int64, minutes: Int64, expected: Int64) {
        #expect(hourlyEarned(rate: rate, minutes: minutes) == expected)
        #expect(hourlyEarned(rate: rate, minutes: minutes) == (rate * minutes + 30) / 60, "the contract's formula")
    }

    @Test func hourlyEarnedIsComputedOnTheTotalNotPerEntry() {
        // Two entries of 10 minutes at 100/hour: per entry 16.67 → 17, twice = 34; on the total 33.33 → 33.
        let perEntry = hourlyEarned(rate: 100, minutes: 10) * 2
        #expect(perEntry == 34)
        var l = Ledger()
        l.post(stipend: .hourly(rateMinor: 100, maxHours: 10, currency: "USD"))
        l.place("s-1")
        l.ok(E.hours("s-1", 10))
        l.ok(E.hours("s-1", 10))
        let money = l.student("s-1")!.money(stipend: l.state().stipend)
        #expect(money.earnedMinor == 33)
        #expect(money.earnedMinor != perEntry)
    }

    @Test func billableMinutesAreCappedAtMaxHours() {
        // 2_000/hour, at most 10 h = 600 min: the cap is 20_000.
        #expect(hourlyEarned(rate: 2_000, maxHours: 10, minutes: 600) == 20_000)
        #expect(hourlyEarned(rate: 2_000, maxHours: 10, minutes: 601) == 20_000)
        #expect(hourlyEarned(rate: 2_000, maxHours: 10, minutes: 100_000) == 20_000)
        #expect(hourlyEarned(rate: 2_000, maxHours: 10, minutes: 599) == 19_967)
        // 60/hour for at most 1 h: 61 minutes logged earn 60, not 61.
        #expect(hourlyEarned(rate: 60, maxHours: 1, minutes: 61) == 60)
        // At the largest stipend the arithmetic does not overflow.
        #expect(hourlyEarned(rate: 1_000_000_000, maxHours: 2000, minutes: 2000 * 60) == 2_000_000_000_000)
        #expect(hourlyEarned(rate: 1_000_000_000, maxHours: 2000, minutes: 2000 * 60 + 1_000_000) == 2_000_000_000_000)
    }

    @Test func hourlyEarnedIgnoresReviews() {
        let stipend = Stipend.hourly(rateMinor: 600, maxHours: 10, currency: "USD")
        for review in [nil, true, false] as [Bool?] {
            #expect(PlacementMoney.earned(stipend: stipend, minutesLogged: 60, latestReviewAccepted: review) == 600)
        }
    }

    @Test func correctionsReduceEarnings() {
        var l = Ledger()
        l.post(stipend: Fixture.hourlyUSD)
        l.place("s-1")
        l.ok(E.hours("s-1", 90))
        l.ok(E.hours("s-1", 45))
        l.ok(E.hours("s-1", -75))
        let s = l.student("s-1")!
        #expect(s.minutesLogged == 60)
        #expect(s.money(stipend: Fixture.hourlyUSD).earnedMinor == 2_000)
    }

    // MARK: Fixed

    @Test func fixedEarnedOnlyWhenTheLatestReviewAccepted() {
        let stipend = Stipend.fixed(amountMinor: 50_000, currency: "EUR")
        #expect(PlacementMoney.earned(stipend: stipend, minutesLogged: 600, latestReviewAccepted: nil) == 0)
        #expect(PlacementMoney.earned(stipend: stipend, minutesLogged: 600, latestReviewAccepted: false) == 0)
        #expect(PlacementMoney.earned(stipend: stipend, minutesLogged: 0, latestReviewAccepted: true) == 50_000)
    }

    @Test func fixedEarnedFollowsTheReviewHistory() {
        var l = Ledger()
        l.post(stipend: Fixture.fixedUSD)
        l.place("s-1")
        func earned(_ l: Ledger) -> Int64 { l.student("s-1")!.money(stipend: Fixture.fixedUSD).earnedMinor }
        #expect(earned(l) == 0, "selected")
        l.ok(E.delivered("s-1"))
        #expect(earned(l) == 0, "delivered, not reviewed")
        l.ok(E.reviewed("s-1", accepted: false))
        #expect(earned(l) == 0, "revision requested")
        l.ok(E.delivered("s-1"))
        #expect(earned(l) == 0, "redelivered")
        l.ok(E.reviewed("s-1", accepted: true))
        #expect(earned(l) == 50_000, "accepted")
    }

    // MARK: Cap, paid, balance, settled

    @Test func capByKind() {
        #expect(Stipend.fixed(amountMinor: 12_345, currency: "USD").capMinor == 12_345)
        #expect(Stipend.hourly(rateMinor: 2_500, maxHours: 40, currency: "USD").capMinor == 100_000)
        let money = PlacementMoney(stipend: Fixture.hourlyUSD, minutesLogged: 0, latestReviewAccepted: nil, paidMinor: 0)
        #expect(money.capMinor == 20_000)
    }

    @Test func paidIsPaymentsMinusReversals() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        l.ok(E.paid("s-1", 10_000, ref: "ch_1"))
        l.ok(E.paid("s-1", 5_000, ref: "ch_2"))
        l.ok(E.paid("s-1", 2_500, ref: "ch_3"))
        #expect(l.student("s-1")?.paidMinor == 17_500)
        l.ok(E.reversed("s-1", ref: "ch_1"))
        #expect(l.student("s-1")?.paidMinor == 7_500)
        #expect(l.student("s-1")?.payments.map(\.reversed) == [true, false, false])
        #expect(l.student("s-1")?.money(stipend: Fixture.fixedUSD).paidMinor == 7_500)
    }

    @Test func balanceIsNegativeWhenAFixedStipendIsPaidBeforeAcceptance() {
        var l = Ledger()
        l.post(stipend: Fixture.fixedUSD)
        l.place("s-1")
        l.ok(E.paid("s-1", 20_000, ref: "ch_advance"))
        let money = l.student("s-1")!.money(stipend: Fixture.fixedUSD)
        #expect(money.earnedMinor == 0)
        #expect(money.paidMinor == 20_000)
        #expect(money.balanceMinor == -20_000)
        #expect(!money.settled)
        l.ok(E.delivered("s-1"))
        l.ok(E.reviewed("s-1", accepted: true))
        let after = l.student("s-1")!.money(stipend: Fixture.fixedUSD)
        #expect(after.balanceMinor == 30_000, "the company now owes the rest")
    }

    @Test func balanceIsNegativeWhenAnHourlyStipendIsPaidAhead() {
        let money = PlacementMoney(stipend: Fixture.hourlyUSD, minutesLogged: 60, latestReviewAccepted: nil, paidMinor: 5_000)
        #expect(money.earnedMinor == 2_000)
        #expect(money.balanceMinor == -3_000)
        #expect(!money.settled)
    }

    @Test(arguments: [
        // (earned-making review, paid, settled)
        (true, Int64(50_000), true),  // earned and fully paid
        (true, 49_999, false),  // 1 still owed
        (true, 0, false),
        (false, 0, false),  // nothing earned, nothing paid: not settled
        (false, 50_000, false),  // paid in advance, nothing earned
    ])
    func settledMeansEarnedAndNothingOwed(accepted: Bool, paid: Int64, settled: Bool) {
        let money = PlacementMoney(stipend: Fixture.fixedUSD, minutesLogged: 0, latestReviewAccepted: accepted, paidMinor: paid)
        #expect(money.settled == settled)
        #expect(money.balanceMinor == money.earnedMinor - paid)
    }

    @Test func settledHourlyPlacement() {
        var l = Ledger()
        l.post(stipend: .hourly(rateMinor: 100, maxHours: 10, currency: "USD"))
        l.place("s-1")
        l.ok(E.hours("s-1", 20))
        l.ok(E.paid("s-1", 33, ref: "ch_1"))
        let money = l.student("s-1")!.money(stipend: l.state().stipend)
        #expect(money.earnedMinor == 33)
        #expect(money.balanceMinor == 0)
        #expect(money.settled)
        l.ok(E.reversed("s-1", ref: "ch_1"))
        let reversed = l.student("s-1")!.money(stipend: l.state().stipend)
        #expect(reversed.balanceMinor == 33)
        #expect(!reversed.settled)
    }

    // MARK: Placement status

    private func status(_ l: Ledger, _ s: String = "s-1") -> PlacementStatus? {
        l.student(s).map(PlacementStatus.init)
    }

    @Test func statusThroughALifecycle() {
        var l = Ledger()
        l.post()
        l.place("s-1")
        #expect(status(l) == .inProgress)
        l.ok(E.hours("s-1", 120))
        #expect(status(l) == .inProgress)
        l.ok(E.delivered("s-1"))
        #expect(status(l) == .delivered)
        l.ok(E.reviewed("s-1", accepted: false))
        #expect(status(l) == .revisionRequested)
        l.ok(E.hours("s-1", 30))
        #expect(status(l) == .revisionRequested, "still no new delivery")
        l.ok(E.delivered("s-1"))
        #expect(status(l) == .delivered)
        l.ok(E.reviewed("s-1", accepted: true))
        #expect(status(l) == .accepted)
        l.ok(E.paid("s-1", 50_000, ref: "ch_1"))
        #expect(status(l) == .accepted)
    }

    @Test(arguments: ["selected", "delivered", "revision", "accepted"])
    func withdrawnAfterSelectionIsWithdrawn(_ stage: String) {
        var l = Ledger()
        l.post()
        l.place("s-1")
        if stage != "selected" { l.ok(E.delivered("s-1")) }
        if stage == "revision" { l.ok(E.reviewed("s-1", accepted: false)) }
        if stage == "accepted" { l.ok(E.reviewed("s-1", accepted: true)) }
        l.ok(E.withdrawn("s-1"))
        #expect(status(l) == .withdrawn)
    }

    @Test func statusRawValuesAreTheContractsNames() {
        #expect(PlacementStatus.allCases.map(\.rawValue) == ["in_progress", "delivered", "revision_requested", "accepted", "withdrawn"])
    }
}
