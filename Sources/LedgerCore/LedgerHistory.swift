/// What each event changed, kept with the time it was recorded: the rows of the `history`
/// projection, from which the company statement, the aging and every report `as_of` a recorded
/// time are read without folding the log on each request.
///
/// Both kinds of row are per recorded time, never cumulative: a report as of T sums the rows
/// recorded at or before T, which are exactly the changes the events recorded by then made. An
/// event's rows are derived from the posting's states just before and just after it, by the code
/// that derives the statement's lines (`StatementLine.lines`) and the report summary's figures
/// (`ReportSummary.contributions`), so a report as of now equals the live one.
public struct LedgerHistory: Sendable {
    /// One statement line with what reports select it by.
    public struct Line: Sendable, Hashable {
        public var line: StatementLine
        public var companyID: String
        public var universityID: String
        public var recordedAt: Timestamp
        /// When the placement's student was selected (open balances are listed in that order).
        public var selectedAt: Timestamp

        public init(line: StatementLine, companyID: String, universityID: String, recordedAt: Timestamp, selectedAt: Timestamp) {
            self.line = line
            self.companyID = companyID
            self.universityID = universityID
            self.recordedAt = recordedAt
            self.selectedAt = selectedAt
        }
    }

    /// A report summary key at one recorded time.
    public struct DeltaKey: Sendable, Hashable, Comparable {
        public var key: ReportKey
        public var recordedAt: Timestamp

        public init(key: ReportKey, recordedAt: Timestamp) {
            self.key = key
            self.recordedAt = recordedAt
        }

        public static func < (a: Self, b: Self) -> Bool { (a.key, a.recordedAt) < (b.key, b.recordedAt) }
    }

    public var lines: [Line] = []
    /// What the events recorded at one time changed in each summary key (zero changes left out).
    public var deltas: [DeltaKey: ReportFigures] = [:]
    /// Set when every event was recorded at this one time (an append group) and `deltas` was left
    /// empty: the summary's change is then the group's (`ReportSummary.delta`) at this time, which
    /// the writer has worked out already.
    public var groupRecordedAt: Timestamp?

    public init() {}

    public var isEmpty: Bool { lines.isEmpty && deltas.isEmpty }

    /// Adds what `recorded` changed, given its posting's state just `before` and `after` it
    /// (without the summary's change when `groupRecordedAt` is set).
    public mutating func add(_ recorded: RecordedEvent, before: PostingState, after: PostingState) {
        guard let studentID = recorded.event.data.studentID else { return }
        let student = after.students[studentID] ?? before.students[studentID]
        if let student {
            let selectedAt = student.selectedAt ?? before.students[studentID]?.selectedAt ?? recorded.event.occurredAt
            for line in StatementLine.lines(of: recorded, before: before, after: after) {
                lines.append(
                    Line(line: line, companyID: after.companyID, universityID: student.universityID, recordedAt: recorded.recordedAt, selectedAt: selectedAt))
            }
        }
        guard groupRecordedAt == nil else { return }
        for (key, figures) in ReportSummary.contributions(posting: before, studentID: studentID) {
            let k = DeltaKey(key: key, recordedAt: recorded.recordedAt)
            deltas[k] = (deltas[k] ?? ReportFigures()) - figures
        }
        for (key, figures) in ReportSummary.contributions(posting: after, studentID: studentID) {
            let k = DeltaKey(key: key, recordedAt: recorded.recordedAt)
            deltas[k] = (deltas[k] ?? ReportFigures()) + figures
        }
    }

    /// The summary rows to write: non-zero changes, in key order. `groupDelta` is the group's
    /// change (`ReportSummary.delta`), used when `groupRecordedAt` is set.
    public func summaryRows(groupDelta: @autoclosure () -> [ReportKey: ReportFigures]) -> [(DeltaKey, ReportFigures)] {
        if let groupRecordedAt {
            return groupDelta().filter { !$0.value.isZero }.map { (DeltaKey(key: $0.key, recordedAt: groupRecordedAt), $0.value) }
                .sorted { $0.0 < $1.0 }
        }
        return deltas.filter { !$0.value.isZero }.sorted { $0.key < $1.key }
    }
}

extension StatementLine.Kind {
    /// The kind named by `bytes` (its raw value), without making a string of them.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard let kind = Self.allCases.first(where: { $0.rawValue.utf8.elementsEqual(bytes) }) else { return nil }
        self = kind
    }
}

extension StatementLine {
    /// A `lines` row of the history projection as one line of text (fields joined by spaces:
    /// identifiers, codes and integers never hold one), which `parse` reads back. PostgreSQL joins
    /// a report's lines into one text: as rows they would cost more to decode than to fold.
    public static let textSQL =
        "concat_ws(' ', currency, kind, occurred_at, position, amount_minor, posting_id, student_id, event_id, COALESCE(payment_ref, '-'))"

    /// `textSQL` without the event id and payment reference (each `-`), which the aging does not
    /// use: its lines are then read from an index that holds the other columns.
    public static let agingTextSQL =
        "concat_ws(' ', currency, kind, occurred_at, position, amount_minor, posting_id, student_id, '-', '-')"

    /// `balanceEffect` of a `lines` row in SQL (its columns prefixed by `alias`, e.g. `l.`).
    public static func balanceEffectSQL(_ alias: String = "") -> String {
        "CASE \(alias)kind WHEN 'paid' THEN -\(alias)amount_minor ELSE \(alias)amount_minor END"
    }

    public struct Malformed: Error, CustomStringConvertible {
        public var line: Int
        public var description: String { "statement line \(line) is not nine space-separated fields of the expected kinds" }
    }

    /// The lines of `text`, made by `textSQL` and joined by "\n" (empty: none), in its order. Read
    /// as bytes: a month of a busy company is thousands of lines.
    public static func parse(text: String) throws -> [StatementLine] {
        var text = text
        return try text.withUTF8 { bytes -> [StatementLine] in
            let raw = UnsafeRawBufferPointer(bytes)
            var lines: [StatementLine] = []
            try FieldLines.forEach(raw, fields: 9) { number, fields in
                guard let fields else { throw Malformed(line: number) }
                func field(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: raw[fields[i]]) }
                func text(_ i: Int) -> String {
                    let f = field(i)
                    return f.count == 1 && f[0] == UInt8(ascii: "-") ? "-" : String(decoding: f, as: UTF8.self)
                }
                func integer(_ i: Int) -> Int64? { Int64(canonicalDecimal: field(i)) }
                guard let kind = Kind(field(1)), let occurred = integer(2), let position = integer(3), let amount = integer(4)
                else { throw Malformed(line: number) }
                let ref = text(8)
                lines.append(
                    StatementLine(
                        kind: kind, currency: text(0), occurredAt: Timestamp(microseconds: occurred), postingID: text(5),
                        studentID: text(6), eventID: text(7), position: position, paymentRef: ref == "-" ? nil : ref, amountMinor: amount))
            }
            return lines
        }
    }
}
