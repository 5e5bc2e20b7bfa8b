import ArgumentParser
import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import PostgresNIO

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild projections from position 0 while the daemon keeps serving the old tables, then swap.",
        discussion: """
            Streams the log in batches of \(ProjectionEngine.buildBatchSize) events into a shadow schema (never the whole \
            log in memory), shows progress with rate and ETA on a terminal, then swaps the shadow in one \
            transaction that holds appends back for its catch-up and rename (it prints how long). Projections: \
            \(ProjectionDefinition.all.map(\.name).joined(separator: ", ")).
            """)

    @OptionGroup var ledger: LedgerOptions

    @Argument(help: "The projection to rebuild.") var name: String?
    @Flag(help: "Rebuild every projection.") var all = false

    func validate() throws {
        if all == (name != nil) { throw ValidationError("name one projection or pass --all") }
        if let name, ProjectionDefinition.named(name) == nil {
            throw ValidationError(
                "unknown projection \(name); projections: \(ProjectionDefinition.all.map(\.name).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let definitions = all ? ProjectionDefinition.all : [ProjectionDefinition.named(name!)!]
        let results = try await ledger.withStore { _, store in
            let runner = ProjectionRunner(client: store.client, logger: store.logger)
            try await runner.prepare()
            var results: [(String, ProjectionRunner.RebuildResult)] = []
            for definition in definitions {
                let result = try await runner.rebuild(definition) { Terminal.progress(Progress.line($0)) }
                Terminal.endProgress()
                results.append((definition.name, result))
            }
            return results
        }
        for (name, result) in results {
            print(
                "rebuilt \(name): \(result.events) events in \(Progress.seconds(result.elapsed)) s (\(Progress.rate(result.events, result.elapsed)) events/s), position \(result.position); appends held \(Progress.seconds(result.appendsHeld)) s at the swap")
        }
    }
}

enum Progress {
    static func seconds(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        return "\(ms / 1000).\(String(format: "%03d", ms % 1000))"
    }

    static func rate(_ events: Int64, _ d: Duration) -> Int64 {
        let ms = max(1, d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
        return events * 1000 / ms
    }

    /// "placements: 120000/1000000 events (12%), 85000 events/s, ETA 10 s"
    static func line(_ p: BuildProgress) -> String {
        let rate = rate(p.events, p.elapsed)
        var text = "\(p.projection): \(p.events)/\(p.total) events"
        if p.total > 0 { text += " (\(p.events * 100 / p.total)%)" }
        text += ", \(rate) events/s"
        if rate > 0, p.total > p.events { text += ", ETA \((p.total - p.events) / rate) s" }
        return text
    }
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a report: postings, placements, universities, stipends, payouts, or a company's statement or aging.",
        discussion: """
            By default the live projections (brought up to date first). --as-of TIME shows what the ledger had \
            recorded by then (events with recorded_at ≤ TIME); --position P what it held up to position P. Both \
            are computed from the log by the same projection code into throwaway tables, not by a second \
            implementation. --from/--to filter universities and payouts by business time [from, to). \
            statement and aging (--company ID) are folded from the company's events in the log: a statement of \
            [--from, --to) with every line that moved the balance, the aging of what is owed at --at (default now); \
            --as-of applies to them too.
            """)

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case postings, placements, universities, stipends, payouts, statement, aging
    }

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json, csv
    }

    @OptionGroup var ledger: LedgerOptions

    @Argument(help: ArgumentHelp("postings | placements | universities | stipends | payouts | statement | aging")) var kind: Kind
    @Option(help: ArgumentHelp("The company of a statement or aging.", valueName: "id")) var company: String?
    @Option(help: ArgumentHelp("The time an aging ages to (default now), RFC 3339.", valueName: "time")) var at: String?
    @Option(help: ArgumentHelp("What the ledger had recorded by this RFC 3339 time.", valueName: "time")) var asOf: String?
    @Option(help: ArgumentHelp("What the ledger held up to this position.", valueName: "P")) var position: Int64?
    @Option(help: "table, json or csv.") var format: Format = .table
    @Option(help: ArgumentHelp("Business-time start (inclusive) for universities and payouts.", valueName: "time")) var from: String?
    @Option(help: ArgumentHelp("Business-time end (exclusive) for universities and payouts.", valueName: "time")) var to: String?

    func validate() throws {
        if asOf != nil && position != nil { throw ValidationError("give --as-of or --position, not both") }
        if let asOf, Timestamp(rfc3339: asOf) == nil { throw ValidationError("--as-of must be an RFC 3339 time, e.g. 2026-03-01T00:00:00Z") }
        if let position, position < 0 { throw ValidationError("--position must be ≥ 0") }
        let companyReport = kind == .statement || kind == .aging
        if companyReport, company == nil { throw ValidationError("\(kind.rawValue) needs --company ID") }
        if !companyReport, company != nil { throw ValidationError("--company is for statement and aging") }
        if companyReport, position != nil { throw ValidationError("--position is not for statement and aging (use --as-of)") }
        if kind != .aging, at != nil { throw ValidationError("--at is for aging") }
        if kind == .aging, from != nil || to != nil { throw ValidationError("aging takes --at, not --from/--to") }
        if let company, !Identifier.isValid(company) { throw ValidationError("--company is not a valid identifier") }
        for (name, value) in [("--from", from), ("--to", to), ("--at", at)] {
            if let value, Timestamp(rfc3339: value) == nil { throw ValidationError("\(name) must be an RFC 3339 time") }
        }
    }

    func run() async throws {
        if let company {
            let output = try await companyReport(company)
            return print(output, format: format)
        }
        let bound: LogBound? =
            if let asOf { .recordedBy(Timestamp(rfc3339: asOf)!) } else if let position { .position(position) } else { nil }
        let range = TimeRange(from: from.flatMap(Timestamp.init(rfc3339:)), to: to.flatMap(Timestamp.init(rfc3339:)))
        let kind = kind
        let output = try await ledger.withStore { _, store in
            let runner = ProjectionRunner(client: store.client, logger: store.logger)
            try await runner.prepare()
            if let bound {
                let output = try await runner.withBuild(upTo: bound, progress: { Terminal.progress(Progress.line($0)) }) { model in
                    try await store.client.withConnection { try await Self.build(kind, model: model, range: range, on: $0) }
                }
                Terminal.endProgress()
                return output
            }
            let model = ReadModel(logger: store.logger)
            return try await store.client.withConnection { try await Self.build(kind, model: model, range: range, on: $0) }
        }
        print(output, format: format)
    }

    private func print(_ output: Output, format: Format) {
        switch format {
        case .json: Swift.print(output.json.canonicalString)
        case .csv: FileHandle.standardOutput.write(Data(CSV.table(columns: output.columns, rows: output.rows).utf8))
        case .table: Swift.print(Self.table(columns: output.columns, rows: output.rows))
        }
    }

    /// A company's statement or aging, folded from its events in the log by the rules' code
    /// (`CompanyLines`). The daemon reads the same lines from its history read model; a test holds
    /// the two equal, so this is also a check of that read model.
    private func companyReport(_ company: String) async throws -> Output {
        let (kind, asOf) = (kind, asOf.flatMap(Timestamp.init(rfc3339:)))
        let (from, to, at) = (from.flatMap(Timestamp.init(rfc3339:)), to.flatMap(Timestamp.init(rfc3339:)), at.flatMap(Timestamp.init(rfc3339:)))
        return try await ledger.withStore(migrate: false) { _, store in
            try await store.client.withConnection { connection in
                let events = try await EventStore.companyEvents(company, asOf: asOf, on: connection, logger: store.logger)
                if kind == .statement {
                    let statement = CompanyStatement(companyID: company, events: events, from: from, to: to, asOf: asOf)
                    return Output(json: statement.json, columns: CompanyStatement.csvColumns, rows: statement.csvRows)
                }
                let time: Timestamp
                if let at { time = at } else { time = try await EventStore.databaseNow(on: connection, logger: store.logger) }
                let aging = CompanyAging(companyID: company, events: events, at: time, asOf: asOf)
                return Output(json: aging.json, columns: CompanyAging.csvColumns, rows: aging.csvRows)
            }
        }
    }

    struct Output: Sendable {
        var json: JSON
        var columns: [String]
        var rows: [JSON]
    }

    static func build(_ kind: Kind, model: ReadModel, range: TimeRange, on connection: PostgresConnection) async throws -> Output {
        switch kind {
        case .postings:
            let rows = try await model.allPostings(scope: .everything, on: connection)
            return Output(
                json: .object(["postings": .array(rows)]),
                columns: ["posting_id", "company_id", "title", "status", "openings", "applicants", "selected", "withdrawn", "created_at"],
                rows: rows)
        case .placements:
            let rows = try await model.placements(filter: .init(), scope: .everything, limit: Int.max - 1, after: nil, on: connection).rows
                .map(\.json)
            return Output(json: .object(["placements": .array(rows)]), columns: PlacementRow.columns, rows: rows)
        case .universities:
            var reports: [JSON] = []
            var rows: [JSON] = []
            for id in try await model.universities(scope: .everything, on: connection) {
                let report = try await model.universityReport(id, range: range, on: connection)
                reports.append(report)
                if case .object(var overall)? = report["overall"] {
                    overall["university_id"] = .string(id)
                    rows.append(.object(overall))
                }
            }
            return Output(
                json: .object(["universities": .array(reports)]),
                columns: ["university_id", "applicants", "placed", "accepted", "withdrawn", "completion_rate", "minutes_logged", "average_rating", "companies"],
                rows: rows)
        case .stipends:
            var reports: [JSON] = []
            var rows: [JSON] = []
            for id in try await model.companies(scope: .everything, on: connection) {
                let report = try await model.companyStipends(id, on: connection)
                reports.append(report)
                if case .array(let lines)? = report["by_currency"] {
                    for case .object(var line) in lines {
                        line["company_id"] = .string(id)
                        rows.append(.object(line))
                    }
                }
            }
            return Output(json: .object(["companies": .array(reports)]), columns: ["company_id"] + ReadModel.stipendCSVColumns, rows: rows)
        case .payouts:
            let (items, json) = try await model.payouts(range: range, companyID: nil, universityID: nil, scope: .everything, on: connection)
            return Output(json: json, columns: PaymentRow.columns, rows: items.map(\.json))
        case .statement, .aging:
            preconditionFailure("statement and aging are folded from the log (companyReport)")
        }
    }

    static func table(columns: [String], rows: [JSON]) -> String {
        // Tenants' text as in CSV cells: no control characters reach the terminal (escape
        // sequences), and a formula pasted into a spreadsheet stays text.
        let cells = rows.map { row in columns.map { CSV.safe(row[$0] ?? .null) } }
        var widths = columns.map(\.count)
        for line in cells { for (i, cell) in line.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func render(_ line: [String]) -> String {
            line.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        var out = [render(columns), render(widths.map { String(repeating: "-", count: $0) })]
        out += cells.map(render)
        out.append("(\(rows.count) rows)")
        return out.joined(separator: "\n")
    }
}
