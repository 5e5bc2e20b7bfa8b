/// The figures of the university report and the company stipends, summed by
/// (university, company, currency, month), so a report adds up a few dozen summary rows instead of
/// every placement of an organisation. Pure: the placements projection keeps the summary with
/// `ReportSummary.delta` in the same transaction as the rows it sums, and the reports read it.
///
/// A row counts the applications whose `applied_at` falls in its month and the placements whose
/// `selected_at` falls in it (the university report's two time bases), with the placements' figures.

/// Where a summary row belongs. `month` is `YYYY-MM` in UTC.
public struct ReportKey: Sendable, Hashable, Comparable {
    public var universityID: String
    public var companyID: String
    public var currency: String
    public var month: String

    public init(universityID: String, companyID: String, currency: String, month: String) {
        self.universityID = universityID
        self.companyID = companyID
        self.currency = currency
        self.month = month
    }

    public static func < (a: Self, b: Self) -> Bool {
        (a.universityID, a.month, a.companyID, a.currency) < (b.universityID, b.month, b.companyID, b.currency)
    }
}

/// Sums over applications and placements. Every field is additive, so a change is a difference of
/// figures and figures of disjoint sets add up.
public struct ReportFigures: Sendable, Hashable {
    public var applicants: Int64 = 0
    public var placed: Int64 = 0
    public var accepted: Int64 = 0
    public var withdrawn: Int64 = 0
    public var minutesLogged: Int64 = 0
    public var ratingSum: Int64 = 0
    public var ratings: Int64 = 0
    public var capMinor: Int64 = 0
    public var earnedMinor: Int64 = 0
    public var paidMinor: Int64 = 0
    public var balanceMinor: Int64 = 0
    public var payments: Int64 = 0
    public var reversals: Int64 = 0

    // The memberwise initialiser (every figure defaulting to 0) serves this module and its tests;
    // the others are in the extension below, so that it is still synthesised.
}

extension ReportFigures {
    /// One placement's figures, with the payments recorded on it.
    public init(placement p: PlacementRow, payments: [PaymentRow]) {
        self.init(
            placed: 1, accepted: p.status == .accepted ? 1 : 0, withdrawn: p.status == .withdrawn ? 1 : 0,
            minutesLogged: p.minutesLogged, ratingSum: p.rating ?? 0, ratings: p.rating == nil ? 0 : 1, capMinor: p.capMinor,
            earnedMinor: p.earnedMinor, paidMinor: p.paidMinor, balanceMinor: p.balanceMinor, payments: Int64(payments.count),
            reversals: Int64(payments.filter(\.reversed).count))
    }

    /// The columns in the order `values` lists them (the summary table's, after its key).
    public static let columns = [
        "applicants", "placed", "accepted", "withdrawn", "minutes_logged", "rating_sum", "ratings", "cap_minor", "earned_minor",
        "paid_minor", "balance_minor", "payments", "reversals",
    ]

    public var values: [Int64] {
        [applicants, placed, accepted, withdrawn, minutesLogged, ratingSum, ratings, capMinor, earnedMinor, paidMinor, balanceMinor,
            payments, reversals]
    }

    /// The figures from the text PostgreSQL's `array_to_string(figures, ' ')` makes of their int8
    /// array, in `columns` order; nil unless that is exactly one integer per column.
    public init?(text: String) {
        var text = text
        let values = text.withUTF8 { bytes -> [Int64]? in
            var values: [Int64] = []
            values.reserveCapacity(Self.columns.count)
            for field in UnsafeRawBufferPointer(bytes).split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false) {
                guard let value = Int64(canonicalDecimal: UnsafeRawBufferPointer(rebasing: field)) else { return nil }
                values.append(value)
            }
            return values
        }
        guard let values, values.count == Self.columns.count else { return nil }
        self.init(values: values)
    }

    public init(values v: [Int64]) {
        precondition(v.count == Self.columns.count, "ReportFigures(values:) takes \(Self.columns.count) values")
        self.init(
            applicants: v[0], placed: v[1], accepted: v[2], withdrawn: v[3], minutesLogged: v[4], ratingSum: v[5], ratings: v[6],
            capMinor: v[7], earnedMinor: v[8], paidMinor: v[9], balanceMinor: v[10], payments: v[11], reversals: v[12])
    }

    public var isZero: Bool { values.allSatisfy { $0 == 0 } }

    public static func + (a: Self, b: Self) -> Self { Self(values: zip(a.values, b.values).map { $0 + $1 }) }
    public static func - (a: Self, b: Self) -> Self { Self(values: zip(a.values, b.values).map { $0 - $1 }) }
    public static func += (a: inout Self, b: Self) { a = a + b }
}

public enum ReportSummary {
    /// What one (posting, student) contributes in a state: its application, and its placement if
    /// selected. Nothing when the posting or the student is absent.
    public static func contributions(posting: PostingState?, studentID: String) -> [(ReportKey, ReportFigures)] {
        guard let posting else { return [] }
        return timedContributions(posting: posting, studentID: studentID).map { ($0.0, $0.1) }
    }

    /// What a batch changed in the summary: for every (posting, student) it touched, the figures
    /// after it minus the figures before it, per key. Keys whose change is zero are left out.
    public static func delta(_ changes: FoldChanges) -> [ReportKey: ReportFigures] {
        var delta: [ReportKey: ReportFigures] = [:]
        for key in changes.students {
            for (k, f) in contributions(posting: changes.before[key.postingID], studentID: key.studentID) {
                delta[k, default: ReportFigures()] = delta[k, default: ReportFigures()] - f
            }
            for (k, f) in contributions(posting: changes.postings[key.postingID], studentID: key.studentID) {
                delta[k, default: ReportFigures()] += f
            }
        }
        return delta.filter { !$0.value.isZero }
    }

    /// The whole summary of a set of posting states (what a rebuild arrives at).
    public static func of(_ postings: some Sequence<PostingState>) -> [ReportKey: ReportFigures] {
        var summary: [ReportKey: ReportFigures] = [:]
        for posting in postings {
            for studentID in posting.students.keys {
                for (k, f) in contributions(posting: posting, studentID: studentID) { summary[k, default: ReportFigures()] += f }
            }
        }
        return summary
    }
}

/// How a report's range `[from, to)` (microseconds; nil = open) splits into whole UTC months, read
/// from the summary, and at most two partial stretches at its ends, read from the rows.
public struct MonthSplit: Sendable, Hashable {
    /// Months `from ≤ month < to` (`YYYY-MM`; nil = open).
    public struct Months: Sendable, Hashable {
        public var from: String?
        public var to: String?
    }

    /// A stretch of time `[from, to)` in microseconds.
    public struct Stretch: Sendable, Hashable {
        public var from: Int64
        public var to: Int64
    }

    /// The whole months; nil when the range holds none.
    public var whole: Months?
    /// The stretches of the range outside the whole months.
    public var edges: [Stretch]

    init(whole: Months?, edges: [Stretch]) {
        self.whole = whole
        self.edges = edges
    }

    public init(from: Int64?, to: Int64?) {
        let lower = from.map { ReportMath.monthStart($0) == $0 ? $0 : ReportMath.nextMonthStart($0) }
        let upper = to.map(ReportMath.monthStart)
        if let from, let to, let lower, let upper, lower >= upper {
            whole = nil
            edges = from < to ? [Stretch(from: from, to: to)] : []
            return
        }
        if let from, let lower, to == nil, lower > Timestamp.range.upperBound {
            // From the last month RFC 3339 can write, open-ended: no whole month follows.
            whole = nil
            edges = [Stretch(from: from, to: lower)]
            return
        }
        func month(_ t: Int64) -> String { ReportMath.month(Timestamp(microseconds: t)) }
        whole = Months(from: lower.map(month), to: upper.map(month))
        edges = []
        if let from, let lower, from < lower { edges.append(Stretch(from: from, to: lower)) }
        if let to, let upper, upper < to { edges.append(Stretch(from: upper, to: to)) }
    }
}

extension ReportMath {
    private static let microsPerDay: Int64 = 86_400_000_000

    /// The start of the UTC month `t` falls in.
    public static func monthStart(_ t: Int64) -> Int64 {
        let days = t.floorDivided(by: microsPerDay).quotient
        let date = CivilDate(daysSinceEpoch: days)
        return (days - Int64(date.day - 1)) * microsPerDay
    }

    /// The start of the UTC month after the one `t` falls in.
    public static func nextMonthStart(_ t: Int64) -> Int64 {
        let start = monthStart(t)
        let date = CivilDate(daysSinceEpoch: start.floorDivided(by: microsPerDay).quotient)
        return start + Int64(CivilDate.daysIn(month: date.month, year: date.year)) * microsPerDay
    }
}

extension ReportSummary {
    /// The university report's `overall`, `by_currency` and `by_month` from figures of disjoint
    /// parts of its range (summary rows and sums of rows alike). Currencies and months without a
    /// placement are left out; `companies` counts the companies with a placement.
    public static func universityFigures(_ parts: [(ReportKey, ReportFigures)]) -> [String: JSON] {
        var total = ReportFigures()
        var companies = Set<String>()
        var byCurrency: [String: ReportFigures] = [:]
        var byMonth: [String: ReportFigures] = [:]
        for (key, figures) in parts {
            total += figures
            if figures.placed > 0 { companies.insert(key.companyID) }
            byCurrency[key.currency, default: ReportFigures()] += figures
            byMonth[key.month, default: ReportFigures()] += figures
        }
        func counts(_ f: ReportFigures) -> [String: JSON] {
            ["placed": .int(f.placed), "accepted": .int(f.accepted), "withdrawn": .int(f.withdrawn), "minutes_logged": .int(f.minutesLogged)]
        }
        var overall = counts(total)
        overall["applicants"] = .int(total.applicants)
        overall["completion_rate"] = ReportMath.ratio(total.accepted, total.placed, places: 4)
        overall["average_rating"] = total.ratings == 0 ? .null : ReportMath.ratio(total.ratingSum, total.ratings, places: 2)
        overall["companies"] = .int(Int64(companies.count))
        let currencies: [JSON] = byCurrency.filter { $0.value.placed > 0 }.sorted { $0.key < $1.key }.map { currency, f in
            var members = counts(f)
            members["currency"] = .string(currency)
            members["earned_minor"] = .int(f.earnedMinor)
            members["paid_minor"] = .int(f.paidMinor)
            members["balance_minor"] = .int(f.balanceMinor)
            return .object(members)
        }
        let months: [JSON] = byMonth.filter { $0.value.placed > 0 }.sorted { $0.key < $1.key }.map { month, f in
            var members = counts(f)
            members["month"] = .string(month)
            return .object(members)
        }
        return ["overall": .object(overall), "by_currency": .array(currencies), "by_month": .array(months)]
    }

    /// The company stipends' `by_currency` from figures of disjoint parts of its placements:
    /// currencies with a placement, in order.
    public static func stipendFigures(_ parts: [(ReportKey, ReportFigures)]) -> [JSON] {
        var byCurrency: [String: ReportFigures] = [:]
        for (key, figures) in parts { byCurrency[key.currency, default: ReportFigures()] += figures }
        return byCurrency.filter { $0.value.placed > 0 }.sorted { $0.key < $1.key }.map { currency, f in
            .object([
                "currency": .string(currency), "placements": .int(f.placed), "cap_minor": .int(f.capMinor),
                "earned_minor": .int(f.earnedMinor), "paid_minor": .int(f.paidMinor), "balance_minor": .int(f.balanceMinor),
                "payments": .int(f.payments), "reversals": .int(f.reversals),
            ])
        }
    }
}
