/// A company's statement: per currency, how its balance moved over a period of business time, with
/// every line that moved it. The lines come from `CompanyLines`, which the aging report reads too,
/// so the two reports cannot disagree with each other, nor with the stipends report.

/// One change an event made to a placement's balance.
public struct StatementLine: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case earned, paid, reversed
    }

    public var kind: Kind
    public var currency: String
    public var occurredAt: Timestamp
    public var postingID: String
    public var studentID: String
    public var eventID: String
    public var position: Int64
    /// The payment a `paid` or `reversed` line is about; nil for `earned`.
    public var paymentRef: String?
    /// Earned: the change of the placement's earned (negative for a correction). Paid and
    /// reversed: the payment's amount (positive).
    public var amountMinor: Int64

    public init(
        kind: Kind, currency: String, occurredAt: Timestamp, postingID: String, studentID: String, eventID: String,
        position: Int64, paymentRef: String?, amountMinor: Int64
    ) {
        self.kind = kind
        self.currency = currency
        self.occurredAt = occurredAt
        self.postingID = postingID
        self.studentID = studentID
        self.eventID = eventID
        self.position = position
        self.paymentRef = paymentRef
        self.amountMinor = amountMinor
    }

    /// What the line adds to the balance: earned − paid + reversed.
    public var balanceEffect: Int64 { kind == .paid ? -amountMinor : amountMinor }

    /// The contract's line fields, in its order (the CSV's too).
    public static let columns = [
        "occurred_at", "posting_id", "student_id", "kind", "event_id", "position", "payment_ref", "amount_minor",
    ]

    /// The values of `columns`: the one source of both the JSON object and the canonical bytes.
    var values: [JSON] {
        [
            .string(occurredAt.rfc3339), .string(postingID), .string(studentID), .string(kind.rawValue), .string(eventID),
            .int(position), paymentRef.map(JSON.string) ?? .null, .int(amountMinor),
        ]
    }

    public var json: JSON { .object(Dictionary(uniqueKeysWithValues: zip(Self.columns, values))) }

    static let shape = CanonicalShape(columns)

    /// Lines as a canonical JSON array without a dictionary per line: a busy company's statement
    /// has tens of thousands.
    public static func jsonArray(_ lines: [StatementLine]) -> JSON {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(lines.count * 230)
        for (i, line) in lines.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            // Value by value, in `columns` order (the order of `values`).
            shape.write(into: &out) { key, out in
                switch key {
                case 0: JSON.writeString(line.occurredAt.rfc3339, into: &out)
                case 1: JSON.writeString(line.postingID, into: &out)
                case 2: JSON.writeString(line.studentID, into: &out)
                case 3: JSON.writeString(line.kind.rawValue, into: &out)
                case 4: JSON.writeString(line.eventID, into: &out)
                case 5: JSON.writeInteger(line.position, into: &out)
                case 6:
                    if let ref = line.paymentRef { JSON.writeString(ref, into: &out) } else { out.append(contentsOf: "null".utf8) }
                default: JSON.writeInteger(line.amountMinor, into: &out)
                }
            }
        }
        out.append(UInt8(ascii: "]"))
        return .canonical(out)
    }

    /// The order of the contract: occurred_at, then position (then kind, so that the order is
    /// total even if one event ever made two lines).
    static func precedes(_ a: StatementLine, _ b: StatementLine) -> Bool {
        (a.occurredAt, a.position, a.kind.rawValue) < (b.occurredAt, b.position, b.kind.rawValue)
    }
}

/// Every line that moved a company's balances, found by the rules' own fold: each posting's events
/// are evolved in position order, and an event's lines are the differences it made to its
/// placement's earned and paid (`PlacementMoney`). Earned lines are differences of the rounded
/// total, so hourly rounding is never per entry and the lines add up to the placements' figures.
public struct CompanyLines: Sendable, Hashable {
    public var companyID: String
    /// Only events recorded at or before this counted (nil: all of them).
    public var asOf: Timestamp?
    /// The currencies of the company's placements, in order: those the stipends report lists.
    public var currencies: [String]
    /// In the contract's order: occurred_at, then position.
    public var lines: [StatementLine]

    /// Lines already derived (in the contract's order), as the history projection keeps them.
    public init(companyID: String, asOf: Timestamp?, currencies: [String], lines: [StatementLine]) {
        self.companyID = companyID
        self.asOf = asOf
        self.currencies = currencies
        self.lines = lines
    }

    /// `events` must hold every event of each of the company's postings (its whole stream, from
    /// `posted`; in any order). Events of other companies' postings may be among them and are
    /// left out; so are events recorded after `asOf`.
    public init(companyID: String, events: some Sequence<RecordedEvent>, asOf: Timestamp? = nil) {
        var lines: [StatementLine] = []
        var currencies = Set<String>()
        for (postingID, stream) in RecordedEvent.streams(events, where: { recorded in asOf.map { recorded.recordedAt <= $0 } ?? true }) {
            var state = PostingState(postingID: postingID)
            for recorded in stream {
                let before = state
                state.evolve(recorded.event)
                if state.companyID == companyID { lines += StatementLine.lines(of: recorded, before: before, after: state) }
            }
            if state.companyID == companyID, state.students.values.contains(where: \.isSelected) {
                currencies.insert(state.stipend.currency)
            }
        }
        self.companyID = companyID
        self.asOf = asOf
        self.currencies = currencies.sorted()
        self.lines = lines.sorted(by: StatementLine.precedes)
    }
}

extension StatementLine {
    /// The lines one event made: the differences between its placement's earned and paid in the
    /// posting's state `before` it and `after` it (none for an event about no student).
    public static func lines(of recorded: RecordedEvent, before: PostingState, after: PostingState) -> [StatementLine] {
        let event = recorded.event
        guard let studentID = event.data.studentID else { return [] }
        let was = before.placementFigures(studentID), now = after.placementFigures(studentID)
        var lines: [StatementLine] = []
        func line(_ kind: StatementLine.Kind, _ amount: Int64, ref: String?) {
            lines.append(
                StatementLine(
                    kind: kind, currency: after.stipend.currency, occurredAt: event.occurredAt, postingID: event.postingID,
                    studentID: studentID, eventID: event.id, position: recorded.position, paymentRef: ref, amountMinor: amount))
        }
        if now.earned != was.earned { line(.earned, now.earned - was.earned, ref: nil) }
        if now.paid != was.paid { line(now.paid > was.paid ? .paid : .reversed, abs(now.paid - was.paid), ref: event.data.paymentRef) }
        return lines
    }
}

extension PostingState {
    /// A placement's earned and paid by the money rules; zero while the student is not selected
    /// (only placements have money, as in the placement rows the stipends report sums) and for
    /// events about no student.
    fileprivate func placementFigures(_ studentID: String?) -> (earned: Int64, paid: Int64) {
        guard let studentID, let student = students[studentID], student.isSelected else { return (0, 0) }
        let money = student.money(stipend: stipend)
        return (money.earnedMinor, money.paidMinor)
    }
}

extension EventData {
    /// The payment a `paid` or `payment_reversed` event is about.
    fileprivate var paymentRef: String? {
        switch self {
        case .paid(_, _, _, let ref, _), .paymentReversed(_, let ref, _): ref
        default: nil
        }
    }
}

/// The statement of `[from, to)` by occurred_at (either end open when nil).
public struct CompanyStatement: Sendable, Hashable {
    /// One currency's movement over the period.
    public struct CurrencyStatement: Sendable, Hashable {
        public var currency: String
        /// The balance of every line before `from`.
        public var openingBalanceMinor: Int64 = 0
        public var earnedMinor: Int64 = 0
        public var paidMinor: Int64 = 0
        public var reversedMinor: Int64 = 0
        /// The lines in `[from, to)`, whose amounts add up to the three figures above.
        public var lines: [StatementLine] = []

        public init(currency: String) { self.currency = currency }

        public var closingBalanceMinor: Int64 { openingBalanceMinor + earnedMinor - paidMinor + reversedMinor }

        mutating func add(_ line: StatementLine) {
            switch line.kind {
            case .earned: earnedMinor += line.amountMinor
            case .paid: paidMinor += line.amountMinor
            case .reversed: reversedMinor += line.amountMinor
            }
            lines.append(line)
        }

        /// The currency's fields of a CSV row, which every one of its lines repeats.
        var members: [String: JSON] {
            [
                "currency": .string(currency), "opening_balance_minor": .int(openingBalanceMinor), "earned_minor": .int(earnedMinor),
                "paid_minor": .int(paidMinor), "reversed_minor": .int(reversedMinor),
                "closing_balance_minor": .int(closingBalanceMinor),
            ]
        }

        public var json: JSON {
            var m = members
            m["lines"] = StatementLine.jsonArray(lines)
            return .object(m)
        }
    }

    public var companyID: String
    public var from: Timestamp?
    public var to: Timestamp?
    public var asOf: Timestamp?
    /// Every currency of the company's placements, in order.
    public var currencies: [CurrencyStatement]

    /// `openings` adds to each currency's opening balance what lines before `from` left out of
    /// `company` brought (the history projection sums them in the database).
    public init(_ company: CompanyLines, from: Timestamp? = nil, to: Timestamp? = nil, openings: [String: Int64] = [:]) {
        var byCurrency = Dictionary(uniqueKeysWithValues: company.currencies.map { ($0, CurrencyStatement(currency: $0)) })
        for (currency, opening) in openings { byCurrency[currency, default: CurrencyStatement(currency: currency)].openingBalanceMinor += opening }
        for line in company.lines {
            if let to, line.occurredAt >= to { continue }
            // In place: a copy of the currency's statement per line would copy its lines each time.
            if let from, line.occurredAt < from {
                byCurrency[line.currency, default: CurrencyStatement(currency: line.currency)].openingBalanceMinor += line.balanceEffect
                continue
            }
            byCurrency[line.currency, default: CurrencyStatement(currency: line.currency)].add(line)
        }
        self.companyID = company.companyID
        self.from = from
        self.to = to
        self.asOf = company.asOf
        self.currencies = byCurrency.values.sorted { $0.currency < $1.currency }
    }

    /// The statement straight from the company's events (see `CompanyLines.init` for what they must be).
    public init(
        companyID: String, events: some Sequence<RecordedEvent>, from: Timestamp? = nil, to: Timestamp? = nil, asOf: Timestamp? = nil
    ) {
        self.init(CompanyLines(companyID: companyID, events: events, asOf: asOf), from: from, to: to)
    }

    public var json: JSON {
        func time(_ t: Timestamp?) -> JSON { t.map { .string($0.rfc3339) } ?? .null }
        return .object([
            "company_id": .string(companyID), "from": time(from), "to": time(to), "as_of": time(asOf),
            "currencies": .array(currencies.map(\.json)),
        ])
    }

    /// The CSV's columns: the currency's, then the line's.
    public static let csvColumns =
        ["currency", "opening_balance_minor", "earned_minor", "paid_minor", "reversed_minor", "closing_balance_minor"]
        + StatementLine.columns

    /// One row per line with its currency's columns (for `CSV.table(columns: csvColumns, rows:)`).
    /// A currency without lines in the period still gets one row, its line columns empty, so that
    /// its opening and closing balances are not lost.
    public var csvRows: [JSON] {
        currencies.flatMap { c -> [JSON] in
            guard !c.lines.isEmpty else { return [.object(c.members)] }
            return c.lines.map { line in .object(c.members.merging(zip(StatementLine.columns, line.values)) { $1 }) }
        }
    }
}
