/// What a rule needs to know beyond the posting's own stream.
public struct DecisionContext: Sendable {
    /// Server time of the append; `occurred_at` may be at most five minutes after it.
    public var now: Timestamp
    /// Payment references already used by each company (the rule spans all its postings).
    public var usedPaymentRefs: Set<CompanyPaymentRef>

    public init(now: Timestamp, usedPaymentRefs: Set<CompanyPaymentRef> = []) {
        self.now = now
        self.usedPaymentRefs = usedPaymentRefs
    }

    public static let futureTolerance: Int64 = 300
}

public struct CompanyPaymentRef: Sendable, Hashable {
    public var companyID: String
    public var paymentRef: String
    public init(companyID: String, paymentRef: String) {
        self.companyID = companyID
        self.paymentRef = paymentRef
    }
}

extension PostingState {
    /// Checks `event` against this state and the context (every rule of the contract's type table,
    /// `expected_version` and `occurred_in_future`), and returns the state after it. The context
    /// learns the payment reference a `paid` event uses, so later events of the same batch see it.
    public func deciding(_ event: Event, context: inout DecisionContext) throws(LedgerError) -> PostingState {
        if let expected = event.expectedVersion, expected != version {
            throw LedgerError(
                .versionConflict,
                "posting \(postingID) is at version \(version), the event expected \(expected): re-read the stream and retry")
        }
        if event.occurredAt > context.now.adding(seconds: DecisionContext.futureTolerance) {
            throw LedgerError(
                .occurredInFuture,
                "occurred_at \(event.occurredAt) is more than 5 minutes after the server's time \(context.now)",
                field: "occurred_at")
        }
        try check(event, context: context)
        if case .paid(_, _, _, let ref, _) = event.data {
            context.usedPaymentRefs.insert(CompanyPaymentRef(companyID: companyID, paymentRef: ref))
        }
        var next = self
        next.evolve(event)
        return next
    }

    private func fail(_ code: ErrorCode, _ message: String) -> LedgerError { LedgerError(code, message) }

    private func check(_ event: Event, context: DecisionContext) throws(LedgerError) {
        if case .posted = event.data {
            guard !exists else { throw fail(.postingExists, "posting \(postingID) already exists") }
            return
        }
        guard exists else {
            throw fail(.postingNotFound, "posting \(postingID) does not exist: its first event must be posted")
        }
        let p = postingID
        func student(_ id: String) -> StudentState? { students[id] }
        switch event.data {
        case .posted:
            break
        case .applied(let s, _):
            guard isOpen else { throw fail(.postingClosed, "posting \(p) is closed to applications") }
            guard student(s) == nil else { throw fail(.alreadyApplied, "student \(s) already applied to posting \(p)") }
        case .selected(let s):
            guard isOpen else { throw fail(.postingClosed, "posting \(p) is closed to selections") }
            guard let st = student(s), st.applicationActive else {
                throw fail(.notApplied, "student \(s) has no active application to posting \(p)")
            }
            guard !st.isSelected else { throw fail(.alreadySelected, "student \(s) is already selected for posting \(p)") }
            guard activePlacements < openings else {
                throw fail(.openingsFilled, "all \(openings) openings of posting \(p) are filled")
            }
        case .hoursLogged(let s, let minutes, _, _, _):
            let st = try selectedStudent(s)
            guard !st.withdrawn else { throw fail(.placementWithdrawn, "the placement of student \(s) on posting \(p) was withdrawn") }
            if minutes < 0, st.minutesLogged + minutes < 0 {
                throw fail(
                    .negativeHoursTotal,
                    "a correction of \(minutes) minutes would take student \(s)'s total of \(st.minutesLogged) minutes below 0")
            }
        case .delivered(let s, _, _):
            let st = try selectedStudent(s)
            guard !st.withdrawn else { throw fail(.placementWithdrawn, "the placement of student \(s) on posting \(p) was withdrawn") }
            guard !st.deliveryPending else {
                throw fail(.deliveryPending, "student \(s)'s previous delivery on posting \(p) still awaits review")
            }
            guard st.latestReviewAccepted != true else {
                throw fail(.alreadyAccepted, "student \(s)'s work on posting \(p) was already accepted")
            }
        case .reviewed(let s, _, _, _):
            guard let st = student(s), st.deliveryPending else {
                throw fail(.nothingDelivered, "no delivery of student \(s) on posting \(p) awaits review")
            }
        case .paid(let s, let amount, let currency, let ref, _):
            let st = try selectedStudent(s)
            guard currency == stipend.currency else {
                throw fail(.currencyMismatch, "posting \(p) pays in \(stipend.currency), the payment is in \(currency)")
            }
            guard !context.usedPaymentRefs.contains(CompanyPaymentRef(companyID: companyID, paymentRef: ref)) else {
                throw fail(.duplicatePaymentRef, "payment_ref \(ref) was already used by company \(companyID)")
            }
            let cap = stipend.capMinor
            guard st.paidMinor + amount <= cap else {
                throw fail(
                    .paymentExceedsCap,
                    "paying \(amount) would bring student \(s)'s total paid to \(st.paidMinor + amount), above the cap of \(cap) \(stipend.currency)")
            }
        case .paymentReversed(let s, let ref, _):
            guard let st = student(s), let payment = st.payments.first(where: { $0.ref == ref }) else {
                throw fail(.paymentNotFound, "no payment \(ref) to student \(s) on posting \(p)")
            }
            guard !payment.reversed else { throw fail(.paymentAlreadyReversed, "payment \(ref) is already reversed") }
        case .withdrawn(let s, _):
            guard let st = student(s) else { throw fail(.notApplied, "student \(s) never applied to posting \(p)") }
            guard !st.withdrawn else { throw fail(.alreadyWithdrawn, "student \(s) already withdrew from posting \(p)") }
        case .closed:
            guard isOpen else { throw fail(.postingClosed, "posting \(p) is already closed") }
        }
    }

    private func selectedStudent(_ s: String) throws(LedgerError) -> StudentState {
        guard let st = students[s], st.isSelected else {
            throw fail(.notSelected, "student \(s) is not selected for posting \(postingID)")
        }
        return st
    }

    /// Applies an event that is known to be valid. Pure; used by appends, replays and reports.
    public mutating func evolve(_ event: Event) {
        version += 1
        let at = event.occurredAt
        switch event.data {
        case .posted(let companyID, let title, let openings, let stipend):
            self.companyID = companyID
            self.title = title
            self.openings = openings
            self.stipend = stipend
            self.isOpen = true
            self.createdAt = at
        case .applied(let s, let u):
            students[s] = StudentState(universityID: u, appliedAt: at)
        case .selected(let s):
            students[s]?.selectedAt = at
        case .hoursLogged(let s, let minutes, _, _, _):
            students[s]?.minutesLogged += minutes
        case .delivered(let s, _, _):
            students[s]?.deliveryPending = true
            students[s]?.deliveredAt = at
        case .reviewed(let s, let accepted, let rating, _):
            students[s]?.deliveryPending = false
            students[s]?.latestReviewAccepted = accepted
            students[s]?.rating = rating
            students[s]?.reviewedAt = at
        case .paid(let s, let amount, _, let ref, _):
            students[s]?.payments.append(Payment(ref: ref, amountMinor: amount, occurredAt: at))
            students[s]?.lastPaidAt = at
        case .paymentReversed(let s, let ref, _):
            if let i = students[s]?.payments.firstIndex(where: { $0.ref == ref }) {
                students[s]?.payments[i].reversed = true
            }
        case .withdrawn(let s, _):
            students[s]?.withdrawn = true
            students[s]?.withdrawnAt = at
        case .closed:
            isOpen = false
        }
    }
}
