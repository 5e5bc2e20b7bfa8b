/// The reports as the ledger said them at an earlier recorded time (`as_of`): the posting states
/// folded from the events recorded by then, and every figure derived from them by the code that
/// derives the read models' rows and the report summary (`PlacementRow`, `PaymentRow`,
/// `ReportSummary`, `OpenBalances`). So a report as of now equals the live one, and one as of an
/// earlier time ignores everything recorded later, whatever its business time.
public struct HistoricLedger: Sendable {
    public var postings: [String: PostingState]

    /// `events` must hold whole streams (each posting's events from `posted`, in any order).
    public init(events: some Sequence<RecordedEvent>) {
        var postings: [String: PostingState] = [:]
        for (postingID, stream) in RecordedEvent.streams(events) {
            var state = PostingState(postingID: postingID)
            for recorded in stream { state.evolve(recorded.event) }
            postings[postingID] = state
        }
        self.postings = postings
    }

    /// Postings in a stable order (the figures are sums, but rows are listed).
    private var ordered: [PostingState] { postings.keys.sorted().map { postings[$0]! } }

    /// The university report's figures (`overall`, `by_currency`, `by_month`) over `[from, to)`:
    /// applications by `applied_at`, placements by `selected_at`, as the live report counts them.
    public func universityFigures(_ universityID: String, from: Timestamp?, to: Timestamp?) -> [String: JSON] {
        ReportSummary.universityFigures(universityParts(universityID, from: from, to: to))
    }

    /// The summary's figures behind `universityFigures`, per key.
    public func universityParts(_ universityID: String, from: Timestamp?, to: Timestamp?) -> [(ReportKey, ReportFigures)] {
        func inRange(_ t: Timestamp) -> Bool { (from.map { t >= $0 } ?? true) && (to.map { t < $0 } ?? true) }
        var parts: [(ReportKey, ReportFigures)] = []
        for posting in ordered {
            for studentID in posting.students.keys.sorted() where posting.students[studentID]?.universityID == universityID {
                for (key, figures, time) in ReportSummary.timedContributions(posting: posting, studentID: studentID) where inRange(time) {
                    parts.append((key, figures))
                }
            }
        }
        return parts
    }

    /// The company stipends report: `by_currency` and `open_balances`, as the live route answers.
    public func companyStipends(_ companyID: String) throws -> JSON {
        let company = ordered.filter { $0.companyID == companyID }
        let parts = ReportSummary.of(company).map { ($0.key, $0.value) }
        var rows: [PlacementRow] = []
        for posting in company {
            for studentID in posting.students.keys {
                if let row = PlacementRow(posting: posting, studentID: studentID), row.balanceMinor != 0 { rows.append(row) }
            }
        }
        rows.sort { ($0.selectedAt, $0.postingID, $0.studentID) < ($1.selectedAt, $1.postingID, $1.studentID) }
        // The same lines PostgreSQL joins for the live report (`OpenBalances.lineSQL`), written by the same code.
        let text = rows.map { r in
            "\(r.postingID) \(r.studentID) \(r.currency) \(r.earnedMinor) \(r.paidMinor) \(r.balanceMinor) \(r.selectedAt.microseconds)"
        }.joined(separator: "\n")
        var open: [UInt8] = []
        var bytes = Array(text.utf8)
        try bytes.withUnsafeMutableBytes { try OpenBalances.write(lines: UnsafeRawBufferPointer($0), into: &open) }
        return .object([
            "company_id": .string(companyID), "by_currency": .array(ReportSummary.stipendFigures(parts)), "open_balances": .canonical(open),
        ])
    }

    /// The payments with `occurred_at` in `[from, to)` that pass `include`, in the live report's
    /// order (occurred_at, payment_ref, company), each with whether it has been reversed.
    public func payments(from: Timestamp?, to: Timestamp?, include: (PaymentRow) -> Bool) -> [PaymentRow] {
        var items: [PaymentRow] = []
        for posting in ordered {
            for studentID in posting.students.keys {
                for row in PaymentRow.rows(posting: posting, studentID: studentID)
                where (from.map { row.occurredAt >= $0 } ?? true) && (to.map { row.occurredAt < $0 } ?? true) && include(row) {
                    items.append(row)
                }
            }
        }
        return items.sorted { ($0.occurredAt, $0.paymentRef, $0.companyID) < ($1.occurredAt, $1.paymentRef, $1.companyID) }
    }
}

extension ReportSummary {
    /// `contributions`, each with the time that places it in a report's range: the application's
    /// `applied_at`, the placement's `selected_at`.
    public static func timedContributions(posting: PostingState, studentID: String) -> [(ReportKey, ReportFigures, Timestamp)] {
        guard let student = posting.students[studentID] else { return [] }
        func key(_ t: Timestamp) -> ReportKey {
            ReportKey(universityID: student.universityID, companyID: posting.companyID, currency: posting.stipend.currency, month: ReportMath.month(t))
        }
        var result = [(key(student.appliedAt), ReportFigures(applicants: 1), student.appliedAt)]
        if let placement = PlacementRow(posting: posting, studentID: studentID) {
            let payments = PaymentRow.rows(posting: posting, studentID: studentID)
            result.append((key(placement.selectedAt), ReportFigures(placement: placement, payments: payments), placement.selectedAt))
        }
        return result
    }
}

extension RecordedEvent {
    /// `events` by posting, each stream in position order: what a fold of whole streams walks.
    public static func streams(_ events: some Sequence<RecordedEvent>, where include: (RecordedEvent) -> Bool = { _ in true }) -> [String: [RecordedEvent]] {
        var streams: [String: [RecordedEvent]] = [:]
        for recorded in events where include(recorded) { streams[recorded.event.postingID, default: []].append(recorded) }
        return streams.mapValues { $0.sorted { $0.position < $1.position } }
    }
}
