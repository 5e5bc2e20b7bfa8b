@testable import LedgerCore
import Testing

/// Fixed instants and stipends shared by the tests.
enum Fixture {
    /// Business time of the first event of a scenario.
    static let t0 = Timestamp(rfc3339: "2026-03-01T09:00:00Z")!
    /// Server time used by the rules unless a test says otherwise (well after every scenario event).
    static let now = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!

    static let fixedUSD = Stipend.fixed(amountMinor: 50_000, currency: "USD")
    /// Cap = 2_000 × 10 = 20_000.
    static let hourlyUSD = Stipend.hourly(rateMinor: 2_000, maxHours: 10, currency: "USD")

    /// A ledger's proof secret (hash format 2).
    static let proofKey = ProofKey(secret: Array(repeating: 7, count: 32))

    /// A deterministic, valid, lower-case UUID for the n-th event of a scenario.
    static func uuid(_ n: Int) -> String {
        let digits = String(n)
        return "00000000-0000-4000-8000-" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }
}

/// Short constructors for event data, so scenarios read like the contract's type table.
enum E {
    static func posted(company: String = "c-1", title: String = "Landing page", openings: Int64 = 2,
                       stipend: Stipend = Fixture.fixedUSD) -> EventData {
        .posted(companyID: company, title: title, openings: openings, stipend: stipend)
    }
    static func applied(_ s: String, university: String = "u-1") -> EventData {
        .applied(studentID: s, universityID: university)
    }
    static func selected(_ s: String) -> EventData { .selected(studentID: s) }
    static func hours(_ s: String, _ minutes: Int64, reason: String? = nil) -> EventData {
        .hoursLogged(studentID: s, minutes: minutes, workDate: CivilDate(year: 2026, month: 3, day: 2)!, note: nil,
                     reason: reason ?? (minutes < 0 ? "correction" : nil))
    }
    static func delivered(_ s: String) -> EventData { .delivered(studentID: s, summary: nil, url: nil) }
    static func reviewed(_ s: String, accepted: Bool, rating: Int64 = 4) -> EventData {
        .reviewed(studentID: s, accepted: accepted, rating: rating, comment: nil)
    }
    static func paid(_ s: String, _ amount: Int64, ref: String, currency: String = "USD") -> EventData {
        .paid(studentID: s, amountMinor: amount, currency: currency, paymentRef: ref, method: nil)
    }
    static func reversed(_ s: String, ref: String) -> EventData {
        .paymentReversed(studentID: s, paymentRef: ref, reason: "bounced")
    }
    static func withdrawn(_ s: String) -> EventData { .withdrawn(studentID: s, reason: nil) }
    static func closed() -> EventData { .closed(reason: nil) }
}

/// An in-memory ledger driving `PostingState.deciding` one event at a time: accepted events advance
/// the posting's state and the context, rejected ones leave both untouched.
struct Ledger {
    var states: [String: PostingState] = [:]
    var context: DecisionContext
    var clock: Timestamp
    var counter = 0

    init(now: Timestamp = Fixture.now, start: Timestamp = Fixture.t0, usedPaymentRefs: Set<CompanyPaymentRef> = []) {
        context = DecisionContext(now: now, usedPaymentRefs: usedPaymentRefs)
        clock = start
    }

    /// A new event one minute after the previous one (unless `at` is given).
    mutating func make(_ data: EventData, posting: String = "p-1", expectedVersion: Int64? = nil, at: Timestamp? = nil)
        -> Event
    {
        counter += 1
        clock = clock.adding(seconds: 60)
        return Event(
            id: Fixture.uuid(counter), postingID: posting, occurredAt: at ?? clock, expectedVersion: expectedVersion,
            actor: nil, data: data)
    }

    /// Decides one event; nil when it was accepted.
    @discardableResult
    mutating func send(_ data: EventData, posting: String = "p-1", expectedVersion: Int64? = nil, at: Timestamp? = nil)
        -> LedgerError?
    {
        let event = make(data, posting: posting, expectedVersion: expectedVersion, at: at)
        let state = states[posting] ?? PostingState(postingID: posting)
        var ctx = context
        do {
            states[posting] = try state.deciding(event, context: &ctx)
            context = ctx
            return nil
        } catch {
            return error
        }
    }

    /// Sends an event that must be accepted.
    mutating func ok(
        _ data: EventData, posting: String = "p-1", expectedVersion: Int64? = nil, at: Timestamp? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let error = send(data, posting: posting, expectedVersion: expectedVersion, at: at)
        #expect(
            error == nil, "expected \(data.type.rawValue) on \(posting) to be accepted, got \(String(describing: error))",
            sourceLocation: sourceLocation)
    }

    /// Posts a posting.
    mutating func post(
        _ posting: String = "p-1", company: String = "c-1", openings: Int64 = 2, stipend: Stipend = Fixture.fixedUSD,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        ok(E.posted(company: company, openings: openings, stipend: stipend), posting: posting, sourceLocation: sourceLocation)
    }

    /// Applies and selects a student.
    mutating func place(
        _ student: String, posting: String = "p-1", university: String = "u-1",
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        ok(E.applied(student, university: university), posting: posting, sourceLocation: sourceLocation)
        ok(E.selected(student), posting: posting, sourceLocation: sourceLocation)
    }

    func state(_ posting: String = "p-1") -> PostingState { states[posting] ?? PostingState(postingID: posting) }
    func student(_ s: String, posting: String = "p-1") -> StudentState? { states[posting]?.students[s] }
}

// MARK: - JSON editing by dotted path

extension JSON {
    /// This value with the member at a dotted path removed.
    func removing(_ path: String) -> JSON {
        edit(path.split(separator: ".").map(String.init)) { _ in nil }
    }

    /// This value with the member at a dotted path set (created when missing).
    func setting(_ path: String, to value: JSON) -> JSON {
        edit(path.split(separator: ".").map(String.init)) { _ in value }
    }

    private func edit(_ keys: [String], _ change: (JSON?) -> JSON?) -> JSON {
        guard case .object(var members) = self, let first = keys.first else { return self }
        if keys.count == 1 {
            members[first] = change(members[first])
        } else {
            members[first] = (members[first] ?? .object([:])).edit(Array(keys.dropFirst()), change)
        }
        return .object(members)
    }

    var bytes: [UInt8] { canonicalBytes }
}

extension String {
    /// `count` copies of a character.
    static func repeating(_ c: Character, _ count: Int) -> String { String(repeating: String(c), count: count) }
}

/// The error a throwing call produced, or nil when it succeeded.
func caught<T>(_ body: () throws(LedgerError) -> T) -> LedgerError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

func caughtSyntax<T>(_ body: () throws(JSONSyntaxError) -> T) -> JSONSyntaxError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}
