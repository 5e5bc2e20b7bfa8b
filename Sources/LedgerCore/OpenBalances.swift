/// The open balances of a company's stipend report: PostgreSQL joins them into one text, a line
/// per placement (`lineSQL`, lines joined by "\n"), and they are served as a canonical JSON array
/// of objects with the keys `fields`.
///
/// A company has thousands of open balances at a million events. As rows they cost placementd
/// about 7 µs each in PostgresNIO's row and cell path (10 ms of CPU for 1,499 of them); as one
/// text they cost a scan.
public enum OpenBalances {
    /// The fields of a line, in order.
    public static let fields = ["posting_id", "student_id", "currency", "earned_minor", "paid_minor", "balance_minor", "selected_at"]
    /// A line of a placements row: its fields joined by spaces (identifiers, currency codes and
    /// integers never contain one; a line that does not have seven fields is refused).
    public static let lineSQL = "concat_ws(' ', posting_id, student_id, currency, earned_minor, paid_minor, balance_minor, selected_at)"

    static let shape = CanonicalShape(fields)

    public struct Malformed: Error, CustomStringConvertible {
        public var line: Int
        public var description: String { "open balance line \(line) is not seven space-separated fields of the expected kinds" }
    }

    /// Writes the JSON array of the balances in `text` (empty: none).
    public static func write(lines text: UnsafeRawBufferPointer, into out: inout [UInt8]) throws {
        out.append(UInt8(ascii: "["))
        try FieldLines.forEach(text, fields: Self.fields.count) { line, fields in
            guard let fields else { throw Malformed(line: line) }
            if line > 1 { out.append(UInt8(ascii: ",")) }
            try shape.write(into: &out) { key, out in
                let field = UnsafeRawBufferPointer(rebasing: text[fields[key]])
                switch key {
                case 0, 1, 2:
                    guard !field.isEmpty else { throw Malformed(line: line) }
                    JSON.writeString(utf8: field, into: &out)
                case 3, 4, 5:
                    // PostgreSQL's int8 text is the canonical decimal form; it is checked, then copied.
                    guard Int64(canonicalDecimal: field) != nil else { throw Malformed(line: line) }
                    out.append(contentsOf: field)
                default:
                    guard let micros = Int64(canonicalDecimal: field) else { throw Malformed(line: line) }
                    JSON.writeString(Timestamp(microseconds: micros).rfc3339, into: &out)
                }
            }
        }
        out.append(UInt8(ascii: "]"))
    }
}

/// Text that PostgreSQL joined from rows (`string_agg` of `concat_ws`): lines joined by "\n", each
/// a fixed number of fields joined by " " (identifiers, codes and integers never hold either).
/// Thousands of rows cost less as one text than as rows (see `OpenBalances`).
enum FieldLines {
    /// Calls `body` with each line's number (from 1) and its fields' byte ranges in `text`, or nil
    /// for a line without exactly `count` fields.
    static func forEach(
        _ text: UnsafeRawBufferPointer, fields count: Int, _ body: (_ line: Int, _ fields: [Range<Int>]?) throws -> Void
    ) rethrows {
        var fields = [Range<Int>](repeating: 0..<0, count: count)
        var start = 0
        var line = 0
        while start < text.count {
            line += 1
            var end = start
            while end < text.count && text[end] != UInt8(ascii: "\n") { end += 1 }
            var found = 0
            var fieldStart = start
            for i in start...end where i == end || text[i] == UInt8(ascii: " ") {
                if found < count { fields[found] = fieldStart..<i }
                found += 1
                fieldStart = i + 1
            }
            try body(line, found == count ? fields : nil)
            start = end + 1
        }
    }
}

extension Int64 {
    /// A decimal integer in canonical form (an optional `-`, then digits without a leading zero:
    /// what PostgreSQL writes for an int8), if it fits.
    public init?(canonicalDecimal bytes: UnsafeRawBufferPointer) {
        var digits = bytes[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard let first = digits.first, first != UInt8(ascii: "0") || (digits.count == 1 && !negative) else { return nil }
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = next
        }
        self = value
    }
}
