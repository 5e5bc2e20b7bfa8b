import Foundation
import LedgerCore

/// One line of the results table.
struct ResultRow: Sendable {
    enum Bar: Sendable {
        /// ours / raw ≥ ratio.
        case ratio(Double)
        /// ours ≥ value.
        case atLeast(Double)
        /// ours ≤ value.
        case atMost(Double)
        /// Reported only.
        case none

        var text: String {
            switch self {
            case .ratio(let r): "≥ \(format(r)) × raw"
            case .atLeast(let v): "≥ \(format(v))"
            case .atMost(let v): "≤ \(format(v))"
            case .none: "—"
            }
        }
    }

    var workload: String
    var unit: String
    var ours: Double
    var raw: Double?
    var bar: Bar
    /// Further figures (p99, RSS, …) for the table's last column and the JSON.
    var details: [(String, String)] = []

    var ratio: Double? { raw.flatMap { $0 > 0 ? ours / $0 : nil } }

    var pass: Bool? {
        switch bar {
        case .ratio(let r): ratio.map { $0 >= r }
        case .atLeast(let v): ours >= v
        case .atMost(let v): ours <= v
        case .none: nil
        }
    }
}

func format(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
    if abs(value) >= 100 { return String(Int64(value.rounded())) }
    if abs(value) >= 10 { return String(format: "%.1f", value) }
    return String(format: "%.2f", value)
}

struct Report: Sendable {
    var settings: String
    var rows: [ResultRow] = []
    var machine: [String: String] = [:]

    mutating func add(_ row: ResultRow) {
        rows.append(row)
        let ratio = row.ratio.map { " (\(format($0)) × raw \(format(row.raw!)))" } ?? ""
        let verdict = row.pass.map { $0 ? "pass" : "FAIL" } ?? "reported"
        Swift.print("  → \(row.workload): \(format(row.ours)) \(row.unit)\(ratio), bar \(row.bar.text): \(verdict)")
    }

    func print() {
        let header = ["workload", "ours", "raw baseline", "ratio", "bar", "result", "details"]
        let lines = rows.map { row -> [String] in
            [
                row.workload, "\(format(row.ours)) \(row.unit)", row.raw.map { "\(format($0)) \(row.unit)" } ?? "—",
                row.ratio.map(format) ?? "—", row.bar.text, row.pass.map { $0 ? "pass" : "FAIL" } ?? "—",
                row.details.map { "\($0.0) \($0.1)" }.joined(separator: ", "),
            ]
        }
        let widths = header.indices.map { i in ([header[i]] + lines.map { $0[i] }).map(\.count).max()! }
        func line(_ cells: [String]) -> String {
            "| " + cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
        }
        Swift.print("\nPlacement Ledger benchmark — \(settings)")
        if !machine.isEmpty {
            Swift.print("machine: \(machine["cpu"] ?? "?"), \(machine["cores"] ?? "?") cores, \(machine["memory_gib"] ?? "?") GiB; "
                + "PostgreSQL \(machine["postgres_server_version"] ?? "?") (fsync \(machine["postgres_fsync"] ?? "?"), "
                + "synchronous_commit \(machine["postgres_synchronous_commit"] ?? "?")); \(machine["date"] ?? "")")
        }
        Swift.print(line(header))
        Swift.print("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
        for cells in lines { Swift.print(line(cells)) }
    }

    var json: String {
        func number(_ value: Double?) -> JSON {
            guard let value else { return .null }
            return .decimal(units: Int64((value * 1000).rounded()), scale: 3)
        }
        let rowsJSON: [JSON] = rows.map { row in
            var members: [String: JSON] = [
                "workload": .string(row.workload), "unit": .string(row.unit), "ours": number(row.ours), "raw": number(row.raw),
                "ratio": number(row.ratio), "bar": .string(row.bar.text), "pass": row.pass.map(JSON.bool) ?? .null,
            ]
            members["details"] = .object(Dictionary(row.details, uniquingKeysWith: { $1 }).mapValues(JSON.string))
            return .object(members)
        }
        return JSON.object([
            "settings": .string(settings), "machine": .object(machine.mapValues(JSON.string)), "results": .array(rowsJSON),
        ]).canonicalString + "\n"
    }
}
