@testable import LedgerCore
import Testing

/// A history built event by event through the rules (`deciding`), recorded at consecutive
/// positions, each recorded when it occurred unless the test says otherwise.
struct RecordedHistory {
    var ledger = Ledger()
    var events: [RecordedEvent] = []

    mutating func add(
        _ data: EventData, posting: String, at occurred: String, recorded: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let event = ledger.make(data, posting: posting, at: Timestamp(rfc3339: occurred)!)
        let state = ledger.states[posting] ?? PostingState(postingID: posting)
        do {
            ledger.states[posting] = try state.deciding(event, context: &ledger.context)
        } catch {
            Issue.record("\(data.type.rawValue) on \(posting) was refused: \(error)", sourceLocation: sourceLocation)
        }
        events.append(
            RecordedEvent(
                event: event, position: Int64(events.count + 1), version: 0, recordedAt: Timestamp(rfc3339: recorded ?? occurred)!,
                prevHash: [], hash: []))
    }
}

@Suite("Company statement and aging")
struct CompanyStatementTests {
    static func t(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

    /// Company c-1 in two currencies, and one posting of c-2 that must never show.
    ///
    /// - p-e, hourly EUR 3 000/h, at most 5 h: s-4 logs 45 min (2 250.5 → 2 250), then 400 min of
    ///   which 255 are billable (cap 300 min: 15 000.5 → 15 000, +12 750); paid 10 000 on Mar 12.
    /// - p-h, hourly USD 1 000/h, at most 10 h: s-1 logs 10 min three times (totals 10, 20, 30 min:
    ///   166.67 → 167, 333.33 → 333, 500 → 500: lines +167, +166, +167, where rounding each entry
    ///   would say 167 each), is paid 500, logs 90 min (120 min: 2 000, +1 500), is paid 1 000 which is
    ///   reversed, and a correction of −10 min (110 min: 1 833.33 → 1 833, −167) that occurred on
    ///   Apr 6 is recorded only on Apr 25 (position 32, after the Apr 13 entry at position 29).
    ///   Earned 1 833, paid 500: balance 1 333.
    /// - p-f, fixed USD 50 000: s-2 is paid 20 000 in advance, accepted on Apr 10 after a revision
    ///   (+50 000), paid the other 30 000 on May 15: balance 0. s-3 is paid 10 000 in advance and
    ///   never delivers: balance −10 000.
    ///
    /// Final balances: USD 1 333 + 0 − 10 000 = −8 667; EUR 15 000 − 10 000 = 5 000.
    static let history: [RecordedEvent] = {
        var h = RecordedHistory()
        let hourlyEUR = Stipend.hourly(rateMinor: 3_000, maxHours: 5, currency: "EUR")
        let hourlyUSD = Stipend.hourly(rateMinor: 1_000, maxHours: 10, currency: "USD")
        h.add(E.posted(openings: 1, stipend: hourlyEUR), posting: "p-e", at: "2026-01-20T09:00:00Z")  // 1
        h.add(E.applied("s-4"), posting: "p-e", at: "2026-01-20T09:10:00Z")  // 2
        h.add(E.selected("s-4"), posting: "p-e", at: "2026-01-20T09:20:00Z")  // 3
        h.add(E.hours("s-4", 45), posting: "p-e", at: "2026-01-25T10:00:00Z")  // 4: +2 250 EUR
        h.add(E.hours("s-4", 400), posting: "p-e", at: "2026-02-10T10:00:00Z")  // 5: +12 750 EUR
        h.add(E.posted(openings: 1, stipend: hourlyUSD), posting: "p-h", at: "2026-03-01T09:00:00Z")  // 6
        h.add(E.applied("s-1"), posting: "p-h", at: "2026-03-01T09:10:00Z")  // 7
        h.add(E.selected("s-1"), posting: "p-h", at: "2026-03-01T09:20:00Z")  // 8
        h.add(E.posted(openings: 2, stipend: .fixed(amountMinor: 50_000, currency: "USD")), posting: "p-f", at: "2026-03-01T09:30:00Z")  // 9
        h.add(E.applied("s-2"), posting: "p-f", at: "2026-03-01T09:40:00Z")  // 10
        h.add(E.selected("s-2"), posting: "p-f", at: "2026-03-01T09:50:00Z")  // 11
        h.add(E.applied("s-3"), posting: "p-f", at: "2026-03-01T10:00:00Z")  // 12
        h.add(E.selected("s-3"), posting: "p-f", at: "2026-03-01T10:10:00Z")  // 13
        h.add(E.posted(company: "c-2", stipend: .fixed(amountMinor: 9_000, currency: "USD")), posting: "p-x", at: "2026-03-01T11:00:00Z")  // 14
        h.add(E.applied("s-9"), posting: "p-x", at: "2026-03-01T11:10:00Z")  // 15
        h.add(E.selected("s-9"), posting: "p-x", at: "2026-03-01T11:20:00Z")  // 16
        h.add(E.hours("s-1", 10), posting: "p-h", at: "2026-03-02T10:00:00Z")  // 17: +167
        h.add(E.paid("s-2", 20_000, ref: "ch-f1"), posting: "p-f", at: "2026-03-05T12:00:00Z")  // 18: paid 20 000
        h.add(E.hours("s-1", 10), posting: "p-h", at: "2026-03-09T10:00:00Z")  // 19: +166
        h.add(E.paid("s-4", 10_000, ref: "ch-e1", currency: "EUR"), posting: "p-e", at: "2026-03-12T12:00:00Z")  // 20: paid 10 000 EUR
        h.add(E.hours("s-1", 10), posting: "p-h", at: "2026-03-16T10:00:00Z")  // 21: +167
        h.add(E.paid("s-1", 500, ref: "ch-h1"), posting: "p-h", at: "2026-03-20T12:00:00Z")  // 22: paid 500
        h.add(E.paid("s-9", 9_000, ref: "ch-x1"), posting: "p-x", at: "2026-03-21T12:00:00Z")  // 23: c-2's
        h.add(E.paid("s-3", 10_000, ref: "ch-f3"), posting: "p-f", at: "2026-03-25T12:00:00Z")  // 24: paid 10 000
        h.add(E.delivered("s-2"), posting: "p-f", at: "2026-04-01T09:00:00Z")  // 25
        h.add(E.reviewed("s-2", accepted: false), posting: "p-f", at: "2026-04-02T09:00:00Z")  // 26
        h.add(E.delivered("s-2"), posting: "p-f", at: "2026-04-08T09:00:00Z")  // 27
        h.add(E.reviewed("s-2", accepted: true), posting: "p-f", at: "2026-04-10T09:00:00Z")  // 28: +50 000
        h.add(E.hours("s-1", 90), posting: "p-h", at: "2026-04-13T10:00:00Z")  // 29: +1 500
        h.add(E.paid("s-1", 1_000, ref: "ch-h2"), posting: "p-h", at: "2026-04-20T12:00:00Z")  // 30: paid 1 000
        h.add(E.reversed("s-1", ref: "ch-h2"), posting: "p-h", at: "2026-04-22T12:00:00Z")  // 31: reversed 1 000
        h.add(E.hours("s-1", -10), posting: "p-h", at: "2026-04-06T10:00:00Z", recorded: "2026-04-25T10:00:00Z")  // 32: −167
        h.add(E.paid("s-2", 30_000, ref: "ch-f2"), posting: "p-f", at: "2026-05-15T12:00:00Z")  // 33: paid 30 000
        return h.events
    }()

    static func statement(from: String? = nil, to: String? = nil, asOf: String? = nil) -> CompanyStatement {
        CompanyStatement(companyID: "c-1", events: history, from: from.map(t), to: to.map(t), asOf: asOf.map(t))
    }

    /// A line as one readable string: when, what, how much, where, which event.
    static func text(_ l: StatementLine) -> String {
        "\(l.occurredAt) \(l.kind.rawValue) \(l.amountMinor) \(l.postingID)/\(l.studentID) #\(l.position)" + (l.paymentRef.map { " \($0)" } ?? "")
    }

    /// (currency, opening, earned, paid, reversed, closing) of each currency.
    static func figures(_ s: CompanyStatement) -> [String] {
        s.currencies.map {
            "\($0.currency) \($0.openingBalanceMinor) +\($0.earnedMinor) -\($0.paidMinor) +\($0.reversedMinor) = \($0.closingBalanceMinor)"
        }
    }

    /// Each currency's stipends-report balance, from the same events folded as the projections fold them.
    static func stipendBalances(_ events: [RecordedEvent], company: String) -> [String: Int64] {
        let states = FoldChanges.fold(events, states: [:]).postings.values.filter { $0.companyID == company }
        let parts = ReportSummary.of(states).map { ($0.key, $0.value) }
        var balances: [String: Int64] = [:]
        for row in ReportSummary.stipendFigures(parts) {
            guard case .string(let currency)? = row["currency"], case .int(let balance)? = row["balance_minor"] else {
                Issue.record("stipend figures without currency or balance: \(row)")
                continue
            }
            balances[currency] = balance
        }
        return balances
    }

    @Test("March: the lines in occurred_at order, their sums, and the opening from the lines before it")
    func march() {
        let s = Self.statement(from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z")
        #expect(s.companyID == "c-1" && s.asOf == nil)
        // EUR: opening 2 250 + 12 750 = 15 000; paid 10 000; closing 5 000.
        // USD: nothing before March; earned 167 + 166 + 167 = 500; paid 20 000 + 500 + 10 000 = 30 500;
        // closing 0 + 500 − 30 500 = −30 000. c-2's payment (#23) is not there.
        #expect(Self.figures(s) == ["EUR 15000 +0 -10000 +0 = 5000", "USD 0 +500 -30500 +0 = -30000"])
        #expect(s.currencies[0].lines.map(Self.text) == ["2026-03-12T12:00:00Z paid 10000 p-e/s-4 #20 ch-e1"])
        #expect(
            s.currencies[1].lines.map(Self.text) == [
                "2026-03-02T10:00:00Z earned 167 p-h/s-1 #17",
                "2026-03-05T12:00:00Z paid 20000 p-f/s-2 #18 ch-f1",
                "2026-03-09T10:00:00Z earned 166 p-h/s-1 #19",
                "2026-03-16T10:00:00Z earned 167 p-h/s-1 #21",
                "2026-03-20T12:00:00Z paid 500 p-h/s-1 #22 ch-h1",
                "2026-03-25T12:00:00Z paid 10000 p-f/s-3 #24 ch-f3",
            ])
        #expect(s.currencies[1].lines[0].eventID == Fixture.uuid(17))
    }

    @Test("April: a correction recorded late is listed by when it occurred, and rounding is the total's")
    func april() {
        let s = Self.statement(from: "2026-04-01T00:00:00Z", to: "2026-05-01T00:00:00Z")
        // USD: opening −30 000 (March's closing); earned −167 + 50 000 + 1 500 = 51 333; paid 1 000,
        // reversed 1 000; closing −30 000 + 51 333 − 1 000 + 1 000 = 21 333. EUR: no movement.
        #expect(Self.figures(s) == ["EUR 5000 +0 -0 +0 = 5000", "USD -30000 +51333 -1000 +1000 = 21333"])
        #expect(s.currencies[0].lines.isEmpty)
        #expect(
            s.currencies[1].lines.map(Self.text) == [
                "2026-04-06T10:00:00Z earned -167 p-h/s-1 #32",
                "2026-04-10T09:00:00Z earned 50000 p-f/s-2 #28",
                "2026-04-13T10:00:00Z earned 1500 p-h/s-1 #29",
                "2026-04-20T12:00:00Z paid 1000 p-h/s-1 #30 ch-h2",
                "2026-04-22T12:00:00Z reversed 1000 p-h/s-1 #31 ch-h2",
            ])
        // s-1's earned lines over all time: 167 + 166 + 167 + 1 500 − 167 = 1 833, the rounded total;
        // rounding each entry would have made 167 × 3 + 1 500 − 167 = 1 834.
        let all = Self.statement()
        let s1 = all.currencies[1].lines.filter { $0.studentID == "s-1" && $0.kind == .earned }
        #expect(s1.reduce(0) { $0 + $1.amountMinor } == 1_833)
    }

    @Test("the whole history: closing equals the stipends report's balance")
    func wholeHistory() {
        let s = Self.statement()
        // USD earned 500 + 51 333 = 51 833 (1 833 + 50 000); paid 30 500 + 1 000 + 30 000 = 61 500;
        // reversed 1 000; closing 51 833 − 61 500 + 1 000 = −8 667. EUR 15 000 − 10 000 = 5 000.
        #expect(Self.figures(s) == ["EUR 0 +15000 -10000 +0 = 5000", "USD 0 +51833 -61500 +1000 = -8667"])
        #expect(Self.stipendBalances(Self.history, company: "c-1") == ["EUR": 5_000, "USD": -8_667])
        for c in s.currencies {
            func sum(_ kind: StatementLine.Kind) -> Int64 { c.lines.filter { $0.kind == kind }.reduce(0) { $0 + $1.amountMinor } }
            #expect(sum(.earned) == c.earnedMinor && sum(.paid) == c.paidMinor && sum(.reversed) == c.reversedMinor)
        }
        // The other company sees only its own posting.
        let other = CompanyStatement(companyID: "c-2", events: Self.history)
        #expect(Self.figures(other) == ["USD 0 +0 -9000 +0 = -9000"])
        // The order the events come in does not matter.
        #expect(CompanyStatement(companyID: "c-1", events: Self.history.reversed()) == s)
    }

    @Test(
        "split at any dates, each piece opens where the one before it closed, and the last closes on the balance",
        arguments: [
            [String](),
            ["2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"],
            ["2026-01-25T10:00:00Z", "2026-03-15T00:00:00Z", "2026-04-10T09:00:00Z", "2026-04-10T09:00:00.000001Z"],
            ["2025-12-01T00:00:00Z", "2026-07-01T00:00:00Z"],
        ])
    func splits(cuts: [String]) {
        let bounds: [Timestamp?] = [nil] + cuts.map(Self.t) + [nil]
        let whole = CompanyStatement(companyID: "c-1", events: Self.history)
        var opening: [String: Int64] = ["EUR": 0, "USD": 0]
        var lines: [String: [StatementLine]] = [:]
        for (from, to) in zip(bounds, bounds.dropFirst()) {
            let piece = CompanyStatement(companyID: "c-1", events: Self.history, from: from, to: to)
            for c in piece.currencies {
                #expect(c.openingBalanceMinor == opening[c.currency], "\(c.currency) from \(String(describing: from))")
                opening[c.currency] = c.closingBalanceMinor
                lines[c.currency, default: []] += c.lines
            }
        }
        #expect(opening == ["EUR": 5_000, "USD": -8_667])
        // Every line is in exactly one piece (an event at a cut belongs to the piece it starts).
        for c in whole.currencies { #expect(lines[c.currency] == c.lines) }
    }

    @Test("as_of: what the ledger said on Apr 24, before the correction was recorded")
    func asOf() {
        let s = Self.statement(from: "2026-04-01T00:00:00Z", asOf: "2026-04-24T00:00:00Z")
        #expect(s.asOf == Self.t("2026-04-24T00:00:00Z"))
        // Without #32 (recorded Apr 25) and #33 (May 15): s-1's 90 minutes still take 30 → 120 min
        // (500 → 2 000, +1 500). USD: −30 000 + 51 500 − 1 000 + 1 000 = 21 500.
        #expect(Self.figures(s) == ["EUR 5000 +0 -0 +0 = 5000", "USD -30000 +51500 -1000 +1000 = 21500"])
        #expect(!s.currencies[1].lines.contains { $0.position == 32 || $0.position == 33 })
        // As the stipends report said then: s-1 2 000 − 500, s-2 50 000 − 20 000, s-3 −10 000 = 21 500.
        let recorded = Self.history.filter { $0.recordedAt <= Self.t("2026-04-24T00:00:00Z") }
        #expect(Self.stipendBalances(recorded, company: "c-1") == ["EUR": 5_000, "USD": 21_500])
        // "At or before": as of the correction's own recording time, it counts (−167: 21 333).
        let at = Self.statement(from: "2026-04-01T00:00:00Z", to: "2026-05-01T00:00:00Z", asOf: "2026-04-25T10:00:00Z")
        #expect(at.currencies[1].closingBalanceMinor == 21_333)
    }

    @Test("JSON: the contract's fields in canonical form; CSV: a row per line with its currency's columns")
    func output() {
        let s = Self.statement(from: "2026-05-01T00:00:00Z")
        // EUR opening 2 250 + 12 750 − 10 000 = 5 000, no lines. USD opening 21 333 (April's closing),
        // one payment of 30 000: −8 667.
        let expected = """
            {"as_of":null,"company_id":"c-1","currencies":[\
            {"closing_balance_minor":5000,"currency":"EUR","earned_minor":0,"lines":[],"opening_balance_minor":5000,\
            "paid_minor":0,"reversed_minor":0},\
            {"closing_balance_minor":-8667,"currency":"USD","earned_minor":0,"lines":[{"amount_minor":30000,\
            "event_id":"00000000-0000-4000-8000-000000000033","kind":"paid","occurred_at":"2026-05-15T12:00:00Z",\
            "payment_ref":"ch-f2","position":33,"posting_id":"p-f","student_id":"s-2"}],"opening_balance_minor":21333,\
            "paid_minor":30000,"reversed_minor":0}],"from":"2026-05-01T00:00:00Z","to":null}
            """
        #expect(s.json.canonicalString == expected)
        // The lines' canonical bytes are those of their JSON objects.
        let lines = Self.statement().currencies.flatMap(\.lines)
        #expect(StatementLine.jsonArray(lines).canonicalBytes == JSON.array(lines.map(\.json)).canonicalBytes)

        #expect(
            CompanyStatement.csvColumns == [
                "currency", "opening_balance_minor", "earned_minor", "paid_minor", "reversed_minor", "closing_balance_minor",
                "occurred_at", "posting_id", "student_id", "kind", "event_id", "position", "payment_ref", "amount_minor",
            ])
        let rows = s.csvRows.map { row in CompanyStatement.csvColumns.map { row[$0] ?? .null } }
        #expect(
            rows == [
                [.string("EUR"), .int(5_000), .int(0), .int(0), .int(0), .int(5_000), .null, .null, .null, .null, .null, .null, .null, .null],
                [
                    .string("USD"), .int(21_333), .int(0), .int(30_000), .int(0), .int(-8_667), .string("2026-05-15T12:00:00Z"),
                    .string("p-f"), .string("s-2"), .string("paid"), .string(Fixture.uuid(33)), .int(33), .string("ch-f2"), .int(30_000),
                ],
            ])
    }

    static func aging(at: String, asOf: String? = nil) -> CompanyAging {
        CompanyAging(companyID: "c-1", events: history, at: t(at), asOf: asOf.map(t))
    }

    /// Each item as "posting/student amount since days bucket".
    static func items(_ c: CompanyAging.CurrencyAging) -> [String] {
        c.items.map { "\($0.postingID)/\($0.studentID) \($0.amountMinor) \($0.dueSince) \($0.days) \($0.bucket.rawValue)" }
    }

    static func buckets(_ c: CompanyAging.CurrencyAging) -> [Int64] { CompanyAging.Bucket.allCases.map(c.minor) }

    @Test("statement lines read back from the database's text: round trip, and a line of the wrong shape names its number")
    func linesText() throws {
        let text = "USD earned 1772445600000000 12 3000 p-1 s-2 00000000-0000-4000-8000-000000000012 -\n"
            + "EUR paid 1772532000000000 13 2500 p-2 s-3 00000000-0000-4000-8000-000000000013 ch-9"
        let lines = try StatementLine.parse(text: text)
        #expect(lines.map(\.kind) == [.earned, .paid])
        #expect(lines.map(\.paymentRef) == [nil, "ch-9"])
        #expect(lines.map(\.amountMinor) == [3000, 2500] && lines.map(\.position) == [12, 13])
        #expect(lines[1].occurredAt == Timestamp(microseconds: 1_772_532_000_000_000) && lines[1].currency == "EUR")
        for (bad, line) in [
            ("USD earned 1 2 3 p-1 s-2 e", 1), ("USD earned 1 2 3 p-1 s-2 e - extra", 1),
            (text + "\nUSD owed 1 2 3 p-1 s-2 e -", 3), (text + "\nUSD paid 1 2 3.5 p-1 s-2 e -", 3),
        ] {
            #expect(throws: StatementLine.Malformed.self) { try StatementLine.parse(text: bad) }
            do { _ = try StatementLine.parse(text: bad) } catch let error as StatementLine.Malformed { #expect(error.line == line, "\(bad)") }
        }
    }

    @Test("an aging's items are written as the canonical bytes of their JSON objects")
    func agingItemBytes() {
        let aging = Self.aging(at: "2026-12-01T00:00:00Z")
        let items = aging.currencies.flatMap(\.items)
        #expect(!items.isEmpty)
        for currency in aging.currencies {
            #expect(currency.json["items"]?.canonicalBytes == JSON.array(currency.items.map(\.json)).canonicalBytes)
        }
    }

    @Test("aging on May 1: decreases cover the oldest earned lines first")
    func agingMay() {
        let a = Self.aging(at: "2026-05-01T00:00:00Z")
        #expect(a.currencies.map(\.currency) == ["EUR", "USD"])
        // EUR: 10 000 paid covers the 2 250 of Jan 25 and 7 750 of Feb 10's 12 750: 5 000 left,
        // Feb 10 10:00 → May 1 00:00 = 79 days 14 h → 79, 61-90.
        #expect(Self.items(a.currencies[0]) == ["p-e/s-4 5000 2026-02-10T10:00:00Z 79 61-90"])
        #expect(Self.buckets(a.currencies[0]) == [0, 0, 5_000, 0])
        // USD: s-1's decreases are 500 paid (1 000 paid and reversed nets to 0) and the −167
        // correction, 667: they cover 167 + 166 + 167 and 167 of the 1 500 of Apr 13: 1 333 left,
        // 17 days 14 h. s-2: 20 000 paid of the 50 000 of Apr 10 (the 30 000 of May 15 comes later):
        // 30 000 left, 20 days 15 h. s-3, paid in advance, owes nothing.
        #expect(
            Self.items(a.currencies[1]) == [
                "p-f/s-2 30000 2026-04-10T09:00:00Z 20 0-30",
                "p-h/s-1 1333 2026-04-13T10:00:00Z 17 0-30",
            ])
        #expect(Self.buckets(a.currencies[1]) == [31_333, 0, 0, 0])
        // The total is the positive balances: 1 333 + 30 000; the statement to May 1 closes on
        // 21 333, which is that less s-3's −10 000.
        #expect(a.currencies.map(\.totalMinor) == [5_000, 31_333])
        let s = Self.statement(to: "2026-05-01T00:00:00Z")
        #expect(s.currencies.map(\.closingBalanceMinor) == [5_000, 21_333])
    }

    @Test("aging on other dates, and as the ledger said it on Apr 24")
    func agingOtherDates() {
        // Jun 1: s-2 is paid in full. s-1's 1 333 is 48 days 14 h old (31-60), s-4's 5 000 110 days
        // 14 h (90+).
        let june = Self.aging(at: "2026-06-01T00:00:00Z")
        #expect(Self.items(june.currencies[0]) == ["p-e/s-4 5000 2026-02-10T10:00:00Z 110 90+"])
        #expect(Self.items(june.currencies[1]) == ["p-h/s-1 1333 2026-04-13T10:00:00Z 48 31-60"])
        #expect(
            june.json.canonicalString == """
                {"as_of":null,"at":"2026-06-01T00:00:00Z","company_id":"c-1","currencies":[\
                {"buckets":{"0-30":0,"31-60":0,"61-90":0,"90+":5000},"currency":"EUR","items":[{"amount_minor":5000,\
                "bucket":"90+","days":110,"due_since":"2026-02-10T10:00:00Z","posting_id":"p-e","student_id":"s-4"}],\
                "total_minor":5000},\
                {"buckets":{"0-30":0,"31-60":1333,"61-90":0,"90+":0},"currency":"USD","items":[{"amount_minor":1333,\
                "bucket":"31-60","days":48,"due_since":"2026-04-13T10:00:00Z","posting_id":"p-h","student_id":"s-1"}],\
                "total_minor":1333}]}
                """)
        // Apr 7: the correction of Apr 6 is counted: s-1 earned 500 − 167 = 333, paid 500, −167: no
        // item. USD owes nothing (s-2 not yet accepted), the currency is still listed. EUR's 5 000 is
        // 55 days 14 h old.
        let april = Self.aging(at: "2026-04-07T00:00:00Z")
        #expect(Self.items(april.currencies[0]) == ["p-e/s-4 5000 2026-02-10T10:00:00Z 55 31-60"])
        #expect(april.currencies[1].items.isEmpty && Self.buckets(april.currencies[1]) == [0, 0, 0, 0])
        // As of Apr 24 (no correction): s-1's 500 paid covers 167 + 166 + 167 exactly; the 1 500 of
        // Apr 13 is left whole.
        let then = Self.aging(at: "2026-05-01T00:00:00Z", asOf: "2026-04-24T00:00:00Z")
        #expect(
            Self.items(then.currencies[1]) == [
                "p-f/s-2 30000 2026-04-10T09:00:00Z 20 0-30",
                "p-h/s-1 1500 2026-04-13T10:00:00Z 17 0-30",
            ])
        #expect(then.asOf == Self.t("2026-04-24T00:00:00Z"))
        // CSV: a row per item with its currency's columns.
        #expect(
            CompanyAging.csvColumns == [
                "currency", "total_minor", "0-30", "31-60", "61-90", "90+", "posting_id", "student_id", "amount_minor", "due_since",
                "days", "bucket",
            ])
        let rows = april.csvRows.map { row in CompanyAging.csvColumns.map { row[$0] ?? .null } }
        #expect(
            rows == [
                [
                    .string("EUR"), .int(5_000), .int(0), .int(5_000), .int(0), .int(0), .string("p-e"), .string("s-4"), .int(5_000),
                    .string("2026-02-10T10:00:00Z"), .int(55), .string("31-60"),
                ],
                [.string("USD"), .int(0), .int(0), .int(0), .int(0), .int(0), .null, .null, .null, .null, .null, .null],
            ])
    }

    @Test(
        "bucket edges", arguments: [(Int64(0), "0-30"), (30, "0-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"), (90, "61-90"), (91, "90+")])
    func bucketEdges(days: Int64, bucket: String) {
        #expect(CompanyAging.Bucket(days: days).rawValue == bucket)
    }

    @Test("ties of age go by position; a reversal dated before its payment is owed from its own date")
    func agingTiesAndEarlyReversal() {
        var h = RecordedHistory()
        h.add(E.posted(company: "c-3", stipend: .hourly(rateMinor: 600, maxHours: 10, currency: "USD")), posting: "p-r", at: "2026-03-01T09:00:00Z")
        h.add(E.applied("s-1"), posting: "p-r", at: "2026-03-01T09:10:00Z")
        h.add(E.selected("s-1"), posting: "p-r", at: "2026-03-01T09:20:00Z")
        h.add(E.hours("s-1", 60), posting: "p-r", at: "2026-03-02T10:00:00Z")  // #4: 60 min → 600
        h.add(E.hours("s-1", 30), posting: "p-r", at: "2026-03-02T10:00:00Z")  // #5: 90 min → 900, +300
        h.add(E.paid("s-1", 700, ref: "r-1"), posting: "p-r", at: "2026-03-10T12:00:00Z")  // #6
        h.add(E.reversed("s-1", ref: "r-1"), posting: "p-r", at: "2026-03-05T12:00:00Z", recorded: "2026-03-11T12:00:00Z")  // #7
        h.add(E.paid("s-1", 400, ref: "r-2"), posting: "p-r", at: "2026-03-12T12:00:00Z")  // #8
        func items(_ at: String) -> [String] {
            let a = CompanyAging(companyID: "c-3", events: h.events, at: Self.t(at))
            #expect(a.currencies.map(\.currency) == ["USD"])
            let statement = CompanyStatement(companyID: "c-3", events: h.events, to: Self.t(at))
            #expect(a.currencies[0].totalMinor == max(0, statement.currencies[0].closingBalanceMinor))
            return a.currencies.flatMap(Self.items)
        }
        // Mar 20: net paid 700 − 700 + 400 = 400 goes to #4's 600 first (same time as #5, lower
        // position): 200 of it and #5's 300 are left, 17 days 14 h old. Balance 900 − 400 = 500.
        #expect(items("2026-03-20T00:00:00Z") == ["p-r/s-1 200 2026-03-02T10:00:00Z 17 0-30", "p-r/s-1 300 2026-03-02T10:00:00Z 17 0-30"])
        // Mar 8: only the reversal (Mar 5) has occurred, not its payment (Mar 10): the balance is
        // 600 + 300 + 700 = 1 600, and the 700 is owed since Mar 5 12:00 (2 days 12 h).
        #expect(
            items("2026-03-08T00:00:00Z") == [
                "p-r/s-1 600 2026-03-02T10:00:00Z 5 0-30", "p-r/s-1 300 2026-03-02T10:00:00Z 5 0-30",
                "p-r/s-1 700 2026-03-05T12:00:00Z 2 0-30",
            ])
    }

    @Test("a demo history: every company's statement closes on its stipends balance, its aging totals its positive balances")
    func demoHistory() {
        let events = Array(DemoHistory(postings: 60, seed: 7)).enumerated().map { i, event in
            RecordedEvent(event: event, position: Int64(i + 1), version: 0, recordedAt: event.occurredAt, prevHash: [], hash: [])
        }
        let states = FoldChanges.fold(events, states: [:]).postings.values
        let companies = Set(states.map(\.companyID))
        #expect(companies.count > 3)
        let end = events.map(\.event.occurredAt).max()!.adding(seconds: 1)
        let middle = Timestamp(microseconds: (events[0].event.occurredAt.microseconds + end.microseconds) / 2)
        for company in companies {
            let lines = CompanyLines(companyID: company, events: events)
            let whole = CompanyStatement(lines)
            #expect(
                Dictionary(uniqueKeysWithValues: whole.currencies.map { ($0.currency, $0.closingBalanceMinor) })
                    == Self.stipendBalances(events, company: company), "\(company)")
            let first = CompanyStatement(lines, to: middle), second = CompanyStatement(lines, from: middle)
            #expect(first.currencies.map(\.closingBalanceMinor) == second.currencies.map(\.openingBalanceMinor), "\(company)")
            #expect(second.currencies.map(\.closingBalanceMinor) == whole.currencies.map(\.closingBalanceMinor), "\(company)")
            // Aged after the last event: what each placement owes, by the placement rows.
            var owed: [String: Int64] = [:]
            for posting in states where posting.companyID == company {
                for student in posting.students.keys {
                    guard let row = PlacementRow(posting: posting, studentID: student) else { continue }
                    owed[row.currency, default: 0] += max(0, row.balanceMinor)
                }
            }
            let aging = CompanyAging(lines, at: end)
            #expect(Dictionary(uniqueKeysWithValues: aging.currencies.map { ($0.currency, $0.totalMinor) }) == owed, "\(company)")
            for c in aging.currencies {
                #expect(CompanyAging.Bucket.allCases.map(c.minor).reduce(0, +) == c.totalMinor)
                #expect(c.items.allSatisfy { $0.amountMinor > 0 })
            }
        }
    }
}
