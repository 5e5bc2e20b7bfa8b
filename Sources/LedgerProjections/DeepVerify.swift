public import LedgerCore
public import LedgerStore
public import Logging
public import PostgresNIO

/// `placementctl verify --deep`: what re-hashing cannot see. A role that may write the log (the
/// daemon's) can insert an event that breaks the rules with a valid hash, or rewrite a stream's
/// stored state (`streams`), which every later append is decided against. So, in one read-only
/// snapshot, this folds every stream again with the rules (each event decided as at its
/// `recorded_at`), compares each stored stream head (company, version, head position, state) with
/// the fold, and compares every read model (postings, placements, payments, applications and the
/// report summary) with rows derived from it.
public struct DeepVerify: Sendable {
    public struct Problem: Sendable, CustomStringConvertible {
        /// The position of the event concerned (0 for a row with no event behind it).
        public var position: Int64
        public var message: String
        public var description: String { position > 0 ? "position \(position): \(message)" : message }
    }

    public struct Report: Sendable {
        public var eventsChecked: Int64 = 0
        public var streamsChecked = 0
        public var rowsChecked = 0
        /// False when the read models were never built (no daemon has served the ledger and no
        /// `replay` ran): there is nothing to compare, which is not a problem.
        public var readModelsBuilt = true
        public var problems: [Problem] = []
    }

    let client: any DatabaseClient
    let logger: Logger
    static let batchSize = 5000

    public init(client: any DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func run(progress: (@Sendable (Int64) -> Void)? = nil) async throws -> Report {
        let logger = logger
        return try await client.withConnection { connection in
            try await connection.transaction(.snapshot, logger: logger) {
                var report = Report()
                var history = LedgerHistory()
                let states = try await Self.refold(on: connection, logger: logger, report: &report, history: &history, progress: progress)
                try await Self.compareStreams(states, on: connection, logger: logger, report: &report)
                if try await ReadModel.liveTablesExist(on: connection, logger: logger) {
                    try await Self.compareReadModels(states, on: connection, logger: logger, report: &report)
                    try await Self.compareHistory(history, on: connection, logger: logger, report: &report)
                } else {
                    report.readModelsBuilt = false
                }
                report.problems.sort { $0.position < $1.position }
                return report
            }
        }
    }

    /// Every event in position order, decided against its stream as the append decided it.
    static func refold(
        on connection: PostgresConnection, logger: Logger, report: inout Report, history: inout LedgerHistory,
        progress: (@Sendable (Int64) -> Void)?
    ) async throws -> [String: PostingState] {
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Timestamp(microseconds: 0))
        var after: Int64 = 0
        while true {
            let events = try await EventStore.snapshotEvents(after: after, limit: batchSize, on: connection, logger: logger)
            for recorded in events {
                let event = recorded.event
                var state = states[event.postingID] ?? PostingState(postingID: event.postingID)
                let before = state
                context.now = recorded.recordedAt
                do {
                    state = try state.deciding(event, context: &context)
                } catch {
                    report.problems.append(
                        Problem(
                            position: recorded.position,
                            message: "event \(event.id) (\(event.type.rawValue) on posting \(event.postingID)) breaks the rules: \(error.code.rawValue): \(error.message)"))
                    state.evolve(event)
                }
                if recorded.version != state.version {
                    report.problems.append(
                        Problem(
                            position: recorded.position,
                            message: "event \(event.id) is stored as version \(recorded.version) of posting \(event.postingID), the fold makes it \(state.version)"))
                }
                history.add(recorded, before: before, after: state)
                states[event.postingID] = state
            }
            report.eventsChecked += Int64(events.count)
            progress?(report.eventsChecked)
            guard let last = events.last else { break }
            after = last.position
        }
        return states
    }

    /// Each stored stream head against the fold.
    static func compareStreams(
        _ states: [String: PostingState], on connection: PostgresConnection, logger: Logger, report: inout Report
    ) async throws {
        var seen = Set<String>()
        let rows = try await connection.run(
            "SELECT posting_id, company_id, version, head_position, snapshot FROM streams ORDER BY posting_id", logger: logger)
        for try await (postingID, company, version, head, snapshot) in rows.decode((String, String, Int64, Int64, String).self) {
            seen.insert(postingID)
            report.streamsChecked += 1
            guard let state = states[postingID] else {
                report.problems.append(Problem(position: head, message: "stream \(postingID) is stored but no event of it is in the log"))
                continue
            }
            if company != state.companyID || version != state.version {
                report.problems.append(
                    Problem(
                        position: head,
                        message: "stream \(postingID)'s head says company \(company), version \(version); its events say company \(state.companyID), version \(state.version)"))
                continue
            }
            let stored: PostingState
            do { stored = try PostingState(snapshot: snapshot) } catch {
                report.problems.append(Problem(position: head, message: "stream \(postingID)'s stored state does not decode: \(error)"))
                continue
            }
            if stored != state {
                report.problems.append(
                    Problem(position: head, message: "stream \(postingID)'s stored state differs from the fold of its events (appends are decided against it)"))
            }
        }
        for postingID in states.keys where !seen.contains(postingID) {
            report.problems.append(Problem(position: 0, message: "posting \(postingID) has events but no stored stream head"))
        }
    }

    /// Every read model against rows derived from the fold.
    static func compareReadModels(
        _ states: [String: PostingState], on connection: PostgresConnection, logger: Logger, report: inout Report
    ) async throws {
        let model = ReadModel(logger: logger)
        var expectedPostings: [String: JSON] = [:]
        for (id, state) in states where state.exists { expectedPostings[id] = state.postingJSON }
        for row in try await model.allPostings(scope: ReadScope(), on: connection) {
            report.rowsChecked += 1
            guard case .string(let id)? = row["posting_id"] else { continue }
            guard let expected = expectedPostings.removeValue(forKey: id) else {
                report.problems.append(Problem(position: 0, message: "the postings read model has posting \(id), which no event created"))
                continue
            }
            if expected != row {
                report.problems.append(Problem(position: 0, message: "the postings read model's row of \(id) differs from a replay of its events"))
            }
        }
        for id in expectedPostings.keys.sorted() {
            report.problems.append(Problem(position: 0, message: "the postings read model lacks posting \(id)"))
        }
        var expectedPlacements = Set<PlacementRow>()
        var expectedPayments = Set<PaymentRow>()
        var expectedApplications = Set<ApplicationRow>()
        for state in states.values {
            for student in state.students.keys {
                if let row = PlacementRow(posting: state, studentID: student) { expectedPlacements.insert(row) }
                expectedPayments.formUnion(PaymentRow.rows(posting: state, studentID: student))
                expectedApplications.insert(ApplicationRow(posting: state, studentID: student))
            }
        }
        var placements: [PlacementRow] = []
        var cursor: PlacementCursor?
        repeat {
            let page = try await model.placements(filter: PlacementFilter(), scope: ReadScope(), limit: 1000, after: cursor, on: connection)
            placements += page.rows
            cursor = page.next
        } while cursor != nil
        compare("placements", read: placements, expected: expectedPlacements, report: &report) { "student \($0.studentID) on \($0.postingID)" }
        let payments = try await model.payouts(range: TimeRange(), companyID: nil, universityID: nil, scope: ReadScope(), on: connection).items
        compare("payments", read: payments, expected: expectedPayments, report: &report) { "payment \($0.paymentRef) on \($0.postingID)" }
        let applications = try await model.allApplications(on: connection)
        compare("applications", read: applications, expected: expectedApplications, report: &report) {
            "student \($0.studentID)'s application to \($0.postingID)"
        }
        // The report summary: rows whose figures are all zero say nothing (a row never empties
        // in practice, but one would equal an absent key).
        let summary = try await model.allSummaryRows(on: connection).filter { !$0.1.isZero }.map { SummaryRow(key: $0.0, figures: $0.1) }
        let expectedSummary = Set(ReportSummary.of(states.values).filter { !$0.value.isZero }.map { SummaryRow(key: $0.key, figures: $0.value) })
        compare("report summary", read: summary, expected: expectedSummary, report: &report) {
            "university \($0.key.universityID), company \($0.key.companyID), \($0.key.currency), \($0.key.month)"
        }
    }

    /// The history read model against what each event changed in the replay: every line, and the
    /// report figures' changes summed per key and recorded time.
    static func compareHistory(_ history: LedgerHistory, on connection: PostgresConnection, logger: Logger, report: inout Report) async throws {
        let model = ReadModel(logger: logger)
        compare("history lines", read: try await model.allHistoryLines(on: connection), expected: Set(history.lines), report: &report) {
            "\($0.line.kind.rawValue) line of event \($0.line.eventID) (student \($0.line.studentID) on \($0.line.postingID))"
        }
        let changes = try await model.allReportChanges(on: connection).map { ChangeRow(key: $0.0, figures: $0.1) }
        compare("history report changes", read: changes, expected: Set(history.summaryRows(groupDelta: [:]).map { ChangeRow(key: $0.0, figures: $0.1) }), report: &report) {
            "university \($0.key.key.universityID), company \($0.key.key.companyID), \($0.key.key.currency), \($0.key.key.month) recorded at \($0.key.recordedAt.rfc3339)"
        }
    }

    /// The report figures' change at one key and recorded time.
    struct ChangeRow: Hashable {
        var key: LedgerHistory.DeltaKey
        var figures: ReportFigures
    }

    /// One row of the report summary.
    struct SummaryRow: Hashable {
        var key: ReportKey
        var figures: ReportFigures
    }

    /// The rows one read model holds against the rows the fold gives: every row read must be one
    /// of them, and every one of them must be read.
    static func compare<Row: Hashable>(
        _ model: String, read rows: [Row], expected: Set<Row>, report: inout Report, name: (Row) -> String
    ) {
        var missing = expected
        for row in rows {
            report.rowsChecked += 1
            if missing.remove(row) == nil {
                report.problems.append(Problem(position: 0, message: "the \(model) read model's row of \(name(row)) differs from a replay of its events"))
            }
        }
        for described in missing.map(name).sorted() {
            report.problems.append(Problem(position: 0, message: "the \(model) read model lacks \(described)"))
        }
    }
}
