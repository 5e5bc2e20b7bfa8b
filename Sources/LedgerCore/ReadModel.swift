/// The rows the read side stores, derived from a posting's folded state. Pure: an append (from the
/// states it decided), a rebuild from position 0 and an `--as-of` report all derive rows through
/// these, so they cannot disagree.

/// One placement (posting × selected student) with the contract's fields.
public struct PlacementRow: Sendable, Hashable {
    public var postingID: String
    public var studentID: String
    public var companyID: String
    public var universityID: String
    public var title: String
    public var status: PlacementStatus
    public var settled: Bool
    public var stipendKind: String
    public var currency: String
    public var minutesLogged: Int64
    public var capMinor: Int64
    public var earnedMinor: Int64
    public var paidMinor: Int64
    public var balanceMinor: Int64
    public var rating: Int64?
    public var selectedAt: Timestamp
    public var deliveredAt: Timestamp?
    public var reviewedAt: Timestamp?
    public var lastPaidAt: Timestamp?

    /// The placement of `studentID` on `posting`, if that student was selected.
    public init?(posting: PostingState, studentID: String) {
        guard let student = posting.students[studentID], let selectedAt = student.selectedAt else { return nil }
        let money = student.money(stipend: posting.stipend)
        self.postingID = posting.postingID
        self.studentID = studentID
        self.companyID = posting.companyID
        self.universityID = student.universityID
        self.title = posting.title
        self.status = PlacementStatus(student)
        self.settled = money.settled
        self.stipendKind = posting.stipend.kind
        self.currency = posting.stipend.currency
        self.minutesLogged = student.minutesLogged
        self.capMinor = money.capMinor
        self.earnedMinor = money.earnedMinor
        self.paidMinor = money.paidMinor
        self.balanceMinor = money.balanceMinor
        self.rating = student.rating
        self.selectedAt = selectedAt
        self.deliveredAt = student.deliveredAt
        self.reviewedAt = student.reviewedAt
        self.lastPaidAt = student.lastPaidAt
    }

    public init(
        postingID: String, studentID: String, companyID: String, universityID: String, title: String,
        status: PlacementStatus, settled: Bool, stipendKind: String, currency: String, minutesLogged: Int64,
        capMinor: Int64, earnedMinor: Int64, paidMinor: Int64, balanceMinor: Int64, rating: Int64?,
        selectedAt: Timestamp, deliveredAt: Timestamp?, reviewedAt: Timestamp?, lastPaidAt: Timestamp?
    ) {
        self.postingID = postingID
        self.studentID = studentID
        self.companyID = companyID
        self.universityID = universityID
        self.title = title
        self.status = status
        self.settled = settled
        self.stipendKind = stipendKind
        self.currency = currency
        self.minutesLogged = minutesLogged
        self.capMinor = capMinor
        self.earnedMinor = earnedMinor
        self.paidMinor = paidMinor
        self.balanceMinor = balanceMinor
        self.rating = rating
        self.selectedAt = selectedAt
        self.deliveredAt = deliveredAt
        self.reviewedAt = reviewedAt
        self.lastPaidAt = lastPaidAt
    }

    /// Placements as a JSON array, written straight into canonical bytes: the same bytes as
    /// `.array(rows.map(\.json))`, without a dictionary per row (a page of the list is a thousand
    /// values).
    public static func jsonArray(_ rows: [PlacementRow]) -> JSON {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(rows.count * 512 + 2)
        for (i, row) in rows.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            row.write(into: &out)
        }
        out.append(UInt8(ascii: "]"))
        return .canonical(out)
    }

    static let shape = CanonicalShape(columns)

    /// `json`'s canonical bytes.
    func write(into out: inout [UInt8]) {
        func time(_ t: Timestamp?, _ out: inout [UInt8]) {
            if let t { JSON.writeString(t.rfc3339, into: &out) } else { out.append(contentsOf: "null".utf8) }
        }
        Self.shape.write(into: &out) { key, out in
            switch key {
            case 0: JSON.writeString(postingID, into: &out)
            case 1: JSON.writeString(studentID, into: &out)
            case 2: JSON.writeString(companyID, into: &out)
            case 3: JSON.writeString(universityID, into: &out)
            case 4: JSON.writeString(title, into: &out)
            case 5: JSON.writeString(status.rawValue, into: &out)
            case 6: out.append(contentsOf: (settled ? "true" : "false").utf8)
            case 7: JSON.writeString(stipendKind, into: &out)
            case 8: JSON.writeString(currency, into: &out)
            case 9: JSON.writeInteger(minutesLogged, into: &out)
            case 10: JSON.writeInteger(capMinor, into: &out)
            case 11: JSON.writeInteger(earnedMinor, into: &out)
            case 12: JSON.writeInteger(paidMinor, into: &out)
            case 13: JSON.writeInteger(balanceMinor, into: &out)
            case 14: if let rating { JSON.writeInteger(rating, into: &out) } else { out.append(contentsOf: "null".utf8) }
            case 15: time(selectedAt, &out)
            case 16: time(deliveredAt, &out)
            case 17: time(reviewedAt, &out)
            default: time(lastPaidAt, &out)
            }
        }
    }

    /// The contract's placement object; absent times are null.
    public var json: JSON {
        func time(_ t: Timestamp?) -> JSON { t.map { .string($0.rfc3339) } ?? .null }
        return .object([
            "posting_id": .string(postingID), "student_id": .string(studentID), "company_id": .string(companyID),
            "university_id": .string(universityID), "title": .string(title), "status": .string(status.rawValue),
            "settled": .bool(settled), "stipend_kind": .string(stipendKind), "currency": .string(currency),
            "minutes_logged": .int(minutesLogged), "cap_minor": .int(capMinor), "earned_minor": .int(earnedMinor),
            "paid_minor": .int(paidMinor), "balance_minor": .int(balanceMinor), "rating": rating.map(JSON.int) ?? .null,
            "selected_at": time(selectedAt), "delivered_at": time(deliveredAt), "reviewed_at": time(reviewedAt),
            "last_paid_at": time(lastPaidAt),
        ])
    }

    public static let columns = [
        "posting_id", "student_id", "company_id", "university_id", "title", "status", "settled", "stipend_kind",
        "currency", "minutes_logged", "cap_minor", "earned_minor", "paid_minor", "balance_minor", "rating",
        "selected_at", "delivered_at", "reviewed_at", "last_paid_at",
    ]
}

/// One application of a student to a posting (the university report counts them).
public struct ApplicationRow: Sendable, Hashable {
    public var postingID: String
    public var studentID: String
    public var universityID: String
    public var companyID: String
    public var appliedAt: Timestamp

    public init(postingID: String, studentID: String, universityID: String, companyID: String, appliedAt: Timestamp) {
        self.postingID = postingID
        self.studentID = studentID
        self.universityID = universityID
        self.companyID = companyID
        self.appliedAt = appliedAt
    }

    public init(posting: PostingState, studentID: String) {
        let student = posting.students[studentID]!
        postingID = posting.postingID
        self.studentID = studentID
        universityID = student.universityID
        companyID = posting.companyID
        appliedAt = student.appliedAt
    }
}

/// One `paid` event as a payout line item, and whether it has been reversed since.
public struct PaymentRow: Sendable, Hashable {
    public var postingID: String
    public var studentID: String
    public var universityID: String
    public var companyID: String
    public var paymentRef: String
    public var amountMinor: Int64
    public var currency: String
    public var occurredAt: Timestamp
    public var reversed: Bool

    public init(
        postingID: String, studentID: String, universityID: String, companyID: String, paymentRef: String,
        amountMinor: Int64, currency: String, occurredAt: Timestamp, reversed: Bool
    ) {
        self.postingID = postingID
        self.studentID = studentID
        self.universityID = universityID
        self.companyID = companyID
        self.paymentRef = paymentRef
        self.amountMinor = amountMinor
        self.currency = currency
        self.occurredAt = occurredAt
        self.reversed = reversed
    }

    public static func rows(posting: PostingState, studentID: String) -> [PaymentRow] {
        guard let student = posting.students[studentID] else { return [] }
        return student.payments.map {
            PaymentRow(
                postingID: posting.postingID, studentID: studentID, universityID: student.universityID,
                companyID: posting.companyID, paymentRef: $0.ref, amountMinor: $0.amountMinor,
                currency: posting.stipend.currency, occurredAt: $0.occurredAt, reversed: $0.reversed)
        }
    }

    /// The contract's payout item, fields in the contract's order (CSV uses the same order).
    public static let columns = [
        "posting_id", "student_id", "university_id", "company_id", "payment_ref", "amount_minor", "currency",
        "occurred_at", "reversed",
    ]

    public var json: JSON {
        .object([
            "posting_id": .string(postingID), "student_id": .string(studentID), "university_id": .string(universityID),
            "company_id": .string(companyID), "payment_ref": .string(paymentRef), "amount_minor": .int(amountMinor),
            "currency": .string(currency), "occurred_at": .string(occurredAt.rfc3339), "reversed": .bool(reversed),
        ])
    }
}

/// What a batch of events changed, so a projection rewrites only those rows.
public struct FoldChanges: Sendable {
    /// Every posting the batch touched, in its state after the batch.
    public var postings: [String: PostingState] = [:]
    /// (posting, student) pairs the batch touched.
    public var students: Set<PostingStudent> = []
    /// The states the batch started from (absent: a posting new in the batch).
    public var before: [String: PostingState] = [:]
    /// What each event changed, with its recorded time (the `history` projection's rows).
    public var history = LedgerHistory()

    public init() {}

    public struct PostingStudent: Sendable, Hashable, Comparable {
        public var postingID: String
        public var studentID: String
        public init(_ postingID: String, _ studentID: String) {
            self.postingID = postingID
            self.studentID = studentID
        }
        public static func < (a: Self, b: Self) -> Bool { (a.postingID, a.studentID) < (b.postingID, b.studentID) }
    }

    /// The placement, application and payment rows the batch changed, in (posting, student) order:
    /// each touched student's rows derived from the state after the batch, less those the state
    /// before it already gave (the tables hold those). An application's row never changes after
    /// `applied`, and a payment's only when it is reversed, while every event of a student touches
    /// the student: writing every touched row rewrote each application about eight times.
    public func changedRows() -> (placements: [PlacementRow], applications: [ApplicationRow], payments: [PaymentRow]) {
        var placements: [PlacementRow] = []
        var applications: [ApplicationRow] = []
        var payments: [PaymentRow] = []
        for key in students.sorted() {
            guard let posting = postings[key.postingID], posting.students[key.studentID] != nil else { continue }
            let earlier = before[key.postingID].flatMap { $0.students[key.studentID] != nil ? $0 : nil }
            let application = ApplicationRow(posting: posting, studentID: key.studentID)
            if earlier.map({ ApplicationRow(posting: $0, studentID: key.studentID) }) != application { applications.append(application) }
            if let row = PlacementRow(posting: posting, studentID: key.studentID),
                row != earlier.flatMap({ PlacementRow(posting: $0, studentID: key.studentID) })
            {
                placements.append(row)
            }
            let paid = earlier.map { PaymentRow.rows(posting: $0, studentID: key.studentID) } ?? []
            payments += PaymentRow.rows(posting: posting, studentID: key.studentID).filter { !paid.contains($0) }
        }
        return (placements, applications, payments)
    }

    /// What a decision already folded: the postings' states `before` the events (absent: new
    /// postings) and `after` them, and the events themselves (for the students they touched). An
    /// append derives its read-model rows from this without folding anything again, except a
    /// posting with several of the group's events, whose states between them the history needs.
    public init(before: [String: PostingState], after: [String: PostingState], records: [RecordedEvent]) {
        self.before = before
        self.postings = after
        var streams: [String: [RecordedEvent]] = [:]
        for recorded in records {
            let event = recorded.event
            if let student = event.data.studentID { students.insert(PostingStudent(event.postingID, student)) }
            streams[event.postingID, default: []].append(recorded)
        }
        // One group, one recorded time: the summary's change is the group's, worked out once.
        if let first = records.first, records.allSatisfy({ $0.recordedAt == first.recordedAt }) {
            history.groupRecordedAt = first.recordedAt
        }
        for (id, stream) in streams {
            let start = before[id] ?? PostingState(postingID: id)
            if stream.count == 1, let end = after[id] {
                history.add(stream[0], before: start, after: end)
            } else {
                var state = start
                for recorded in stream { Self.evolve(&state, recorded, into: &history) }
            }
        }
    }

    /// Evolves `state` by one recorded event, adding what it changed to `history`.
    private static func evolve(_ state: inout PostingState, _ recorded: RecordedEvent, into history: inout LedgerHistory) {
        guard recorded.event.data.studentID != nil else { return state.evolve(recorded.event) }
        let before = state
        state.evolve(recorded.event)
        history.add(recorded, before: before, after: state)
    }

    /// Applies recorded events (in position order) to the states they belong to. `states` must hold
    /// the state of every posting the events touch (a new posting: absent).
    /// `history: false` leaves `history` empty (a build of a projection that does not keep it).
    public static func fold(_ events: [RecordedEvent], states: [String: PostingState], history: Bool = true) -> FoldChanges {
        var changes = FoldChanges()
        changes.before = states
        changes.postings.reserveCapacity(states.count)
        for recorded in events {
            let id = recorded.event.postingID
            var state = changes.postings[id] ?? states[id] ?? PostingState(postingID: id)
            if history { evolve(&state, recorded, into: &changes.history) } else { state.evolve(recorded.event) }
            changes.postings[id] = state
            if let student = recorded.event.data.studentID { changes.students.insert(PostingStudent(id, student)) }
        }
        return changes
    }
}

/// Report arithmetic in integers: ratios rounded half up to a number of decimals.
public enum ReportMath {
    /// `numerator / denominator` rounded half up to `places` decimals, as a decimal JSON number
    /// (0 when the denominator is 0). Both must be ≥ 0.
    public static func ratio(_ numerator: Int64, _ denominator: Int64, places: Int) -> JSON {
        guard denominator > 0 else { return .decimal(units: 0, scale: places) }
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let units = (numerator * scale * 2 + denominator) / (denominator * 2)
        return .decimal(units: units, scale: places)
    }

    /// `YYYY-MM` of a time in UTC.
    public static func month(_ t: Timestamp) -> String { String(t.rfc3339.prefix(7)) }
}
