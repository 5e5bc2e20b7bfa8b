/// What a company owes at a time, by age. Built on the statement's lines (`CompanyLines`), so an
/// aging's total is always the positive part of the balances a statement to the same time closes on.
public struct CompanyAging: Sendable, Hashable {
    public enum Bucket: String, Sendable, Hashable, CaseIterable {
        case days0to30 = "0-30"
        case days31to60 = "31-60"
        case days61to90 = "61-90"
        case over90 = "90+"

        public init(days: Int64) {
            switch days {
            case ...30: self = .days0to30
            case ...60: self = .days31to60
            case ...90: self = .days61to90
            default: self = .over90
            }
        }
    }

    /// An unpaid remainder of one earned line.
    public struct Item: Sendable, Hashable {
        public var postingID: String
        public var studentID: String
        public var amountMinor: Int64
        /// The earned line's occurred_at.
        public var dueSince: Timestamp
        /// Whole days (floor) from `dueSince` to the aging's time.
        public var days: Int64
        public var bucket: Bucket
        /// The earned line's position: orders items the contract's keys leave tied.
        public var position: Int64

        public static let columns = ["posting_id", "student_id", "amount_minor", "due_since", "days", "bucket"]

        /// The values of `columns`: the one source of both the JSON object and the canonical bytes.
        var values: [JSON] {
            [.string(postingID), .string(studentID), .int(amountMinor), .string(dueSince.rfc3339), .int(days), .string(bucket.rawValue)]
        }

        public var json: JSON { .object(Dictionary(uniqueKeysWithValues: zip(Self.columns, values))) }

        static let shape = CanonicalShape(columns)

        /// The canonical bytes of `json`, written value by value (an aging has thousands of items).
        func write(into out: inout [UInt8]) {
            Self.shape.write(into: &out) { key, out in
                switch key {
                case 0: JSON.writeString(postingID, into: &out)
                case 1: JSON.writeString(studentID, into: &out)
                case 2: JSON.writeInteger(amountMinor, into: &out)
                case 3: JSON.writeString(dueSince.rfc3339, into: &out)
                case 4: JSON.writeInteger(days, into: &out)
                default: JSON.writeString(bucket.rawValue, into: &out)
                }
            }
        }

        static func precedes(_ a: Item, _ b: Item) -> Bool {
            (a.dueSince, a.postingID, a.studentID, a.position) < (b.dueSince, b.postingID, b.studentID, b.position)
        }
    }

    /// One currency's open items and their sums by bucket.
    public struct CurrencyAging: Sendable, Hashable {
        public var currency: String
        public var items: [Item] = []

        public init(currency: String) { self.currency = currency }

        public func minor(in bucket: Bucket) -> Int64 { items.reduce(0) { $0 + ($1.bucket == bucket ? $1.amountMinor : 0) } }
        public var totalMinor: Int64 { items.reduce(0) { $0 + $1.amountMinor } }

        /// The currency's fields of a CSV row, which every one of its items repeats.
        var members: [String: JSON] {
            var m: [String: JSON] = ["currency": .string(currency), "total_minor": .int(totalMinor)]
            for bucket in Bucket.allCases { m[bucket.rawValue] = .int(minor(in: bucket)) }
            return m
        }

        public var json: JSON {
            var out: [UInt8] = [UInt8(ascii: "[")]
            out.reserveCapacity(items.count * 150)
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
            return .object([
                "currency": .string(currency), "total_minor": .int(totalMinor), "items": .canonical(out),
                "buckets": .object(Dictionary(uniqueKeysWithValues: Bucket.allCases.map { ($0.rawValue, JSON.int(minor(in: $0))) })),
            ])
        }
    }

    public var companyID: String
    /// The time the balances are aged to: lines that occurred before it count.
    public var at: Timestamp
    public var asOf: Timestamp?
    /// Every currency of the company's placements, in order.
    public var currencies: [CurrencyAging]

    /// Within each placement, every decrease (payments net of reversals, negative earned lines) is
    /// applied to its positive earned lines oldest first; what is left of each is an item. The
    /// lines counted are those that occurred before `at`, as a statement with `to = at` counts them.
    public init(_ company: CompanyLines, at: Timestamp) {
        struct Placement: Hashable {
            var postingID: String
            var studentID: String
        }
        /// What the placement's lines sum to, before its increases take their share.
        struct Account {
            var currency: String
            var decreases: Int64 = 0
            var latestReversal: StatementLine?
        }
        // The lines are in occurred_at, position order: each placement's increases are oldest first.
        let counted = company.lines.prefix { $0.occurredAt < at }
        var index: [Placement: Int] = [:]
        var accounts: [Account] = []
        var accountOf: [Int] = []  // per counted line: its placement's account
        accountOf.reserveCapacity(counted.count)
        for line in counted {
            let p = Placement(postingID: line.postingID, studentID: line.studentID)
            let a: Int
            if let known = index[p] {
                a = known
            } else {
                a = accounts.count
                index[p] = a
                accounts.append(Account(currency: line.currency))
            }
            accountOf.append(a)
            accounts[a].currency = line.currency
            switch line.kind {
            case .earned where line.amountMinor > 0: break
            case .earned, .paid: accounts[a].decreases += abs(line.amountMinor)
            case .reversed:
                accounts[a].decreases -= line.amountMinor
                accounts[a].latestReversal = line
            }
        }
        var byCurrency = Dictionary(uniqueKeysWithValues: company.currencies.map { ($0, CurrencyAging(currency: $0)) })
        func owe(_ line: StatementLine, _ amount: Int64, currency: String) {
            let days = (at.microseconds - line.occurredAt.microseconds).floorDivided(by: 86_400_000_000).quotient
            byCurrency[currency, default: CurrencyAging(currency: currency)].items.append(
                Item(
                    postingID: line.postingID, studentID: line.studentID, amountMinor: amount, dueSince: line.occurredAt, days: days,
                    bucket: Bucket(days: days), position: line.position))
        }
        // Reversals only ever undo payments, but a reversal may be dated before the payment it
        // undoes: until that payment occurs, the placement owes the reversed amount as well,
        // since the reversal.
        var unapplied = [Int64](repeating: 0, count: accounts.count)
        for (a, account) in accounts.enumerated() {
            if account.decreases < 0, var excess = account.latestReversal {
                excess.amountMinor = -account.decreases
                owe(excess, -account.decreases, currency: account.currency)
            } else {
                unapplied[a] = max(account.decreases, 0)
            }
        }
        // Each placement's decreases go to its increases oldest first; what is left of each is an
        // item. Walked in the lines' order, the items come almost in the answer's order.
        for (i, line) in zip(accountOf.indices, counted) where line.kind == .earned && line.amountMinor > 0 {
            let a = accountOf[i]
            let applied = min(unapplied[a], line.amountMinor)
            unapplied[a] -= applied
            guard line.amountMinor > applied else { continue }
            owe(line, line.amountMinor - applied, currency: line.currency)
        }
        self.companyID = company.companyID
        self.at = at
        self.asOf = company.asOf
        self.currencies = byCurrency.values.sorted { $0.currency < $1.currency }.map {
            var c = $0
            c.items.sort(by: Item.precedes)
            return c
        }
    }

    /// The aging straight from the company's events (see `CompanyLines.init` for what they must be).
    public init(companyID: String, events: some Sequence<RecordedEvent>, at: Timestamp, asOf: Timestamp? = nil) {
        self.init(CompanyLines(companyID: companyID, events: events, asOf: asOf), at: at)
    }

    public var json: JSON {
        .object([
            "company_id": .string(companyID), "at": .string(at.rfc3339), "as_of": asOf.map { .string($0.rfc3339) } ?? .null,
            "currencies": .array(currencies.map(\.json)),
        ])
    }

    /// The CSV's columns: the currency's, then the item's.
    public static let csvColumns = ["currency", "total_minor"] + Bucket.allCases.map(\.rawValue) + Item.columns

    /// One row per item with its currency's columns (for `CSV.table(columns: csvColumns, rows:)`).
    /// A currency without items still gets one row, its item columns empty.
    public var csvRows: [JSON] {
        currencies.flatMap { c -> [JSON] in
            guard !c.items.isEmpty else { return [.object(c.members)] }
            return c.items.map { item in .object(c.members.merging(zip(Item.columns, item.values)) { $1 }) }
        }
    }
}
