/// A small, fast, seedable generator (SplitMix64), so that demo histories are reproducible.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A version-4 UUID drawn from this generator.
    public mutating func uuid() -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let a = next(), b = next()
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: a >> (8 * UInt64(i)))
            bytes[8 + i] = UInt8(truncatingIfNeeded: b >> (8 * UInt64(i)))
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = Hex.encode(bytes)
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-"
            + String(c[20..<32])
    }
}

/// A realistic, reproducible placement history: several companies, universities and currencies,
/// fixed and hourly stipends, hour corrections, revisions, partial payments, reversals, withdrawals
/// and closed postings. Every event it yields passes the rules when appended in order.
public struct DemoHistory: Sequence, Sendable {
    public var postings: Int
    public var seed: UInt64
    /// Business time of the first posting; the history spreads over the following 600 days.
    public var start: Timestamp
    /// Posting ids are this prefix and a number (histories with different prefixes and seeds never collide).
    public var postingPrefix = "p-"

    public static let defaultStart = Timestamp(rfc3339: "2025-01-06T09:00:00Z")!

    public init(postings: Int, seed: UInt64 = 42, start: Timestamp = DemoHistory.defaultStart) {
        self.postings = postings
        self.seed = seed
        self.start = start
    }

    static let companies: [(id: String, currency: String)] = [
        ("c-acme", "USD"), ("c-globex", "USD"), ("c-initech", "USD"), ("c-umbrella", "EUR"), ("c-stark", "USD"),
        ("c-wayne", "GBP"), ("c-tyrell", "EUR"), ("c-cyberdyne", "CAD"), ("c-soylent", "EUR"), ("c-hooli", "USD"),
        ("c-piedpiper", "GBP"), ("c-vandelay", "INR"),
    ]
    static let universities = ["u-mit", "u-eth", "u-ucl", "u-toronto", "u-iitb", "u-sorbonne", "u-tum", "u-stanford"]
    static let topics = [
        "Landing page redesign", "Market research sprint", "Data cleaning for CRM", "Mobile app prototype",
        "Social media audit", "Pricing analysis", "API integration", "User interview synthesis", "SEO review",
        "Financial model", "Onboarding email series", "Accessibility audit", "Dashboard in SQL", "Brand naming",
        "Competitor teardown", "Customer churn study",
    ]
    /// Postings generated (and ordered by time) together; smaller groups interleave less.
    static let groupSize = 32

    public func makeIterator() -> Iterator { Iterator(history: self) }

    public struct Iterator: IteratorProtocol, Sendable {
        let history: DemoHistory
        var random: SeededRandom
        var nextPosting = 0
        var buffer: [Event] = []
        var bufferIndex = 0
        var paymentCounter = 0

        init(history: DemoHistory) {
            self.history = history
            self.random = SeededRandom(seed: history.seed)
        }

        public mutating func next() -> Event? {
            while bufferIndex >= buffer.count {
                guard nextPosting < history.postings else { return nil }
                var group: [Event] = []
                let end = Swift.min(history.postings, nextPosting + DemoHistory.groupSize)
                for i in nextPosting..<end { group += generatePosting(i) }
                nextPosting = end
                // Stable: a posting's own events keep their order (their times strictly increase).
                buffer = group.enumerated().sorted { a, b in
                    (a.element.occurredAt, a.offset) < (b.element.occurredAt, b.offset)
                }.map(\.element)
                bufferIndex = 0
            }
            defer { bufferIndex += 1 }
            return buffer[bufferIndex]
        }

        mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
        mutating func chance(_ p: Double) -> Bool { Int.random(in: 0..<10_000, using: &random) < Int(p * 10_000) }

        // The posting being generated.
        var clock = Timestamp(microseconds: 0)
        var postingID = ""
        var state = PostingState(postingID: "")
        var events: [Event] = []
        var context = DecisionContext(now: Timestamp(microseconds: Int64.max / 2))

        var today: CivilDate {
            CivilDate(daysSinceEpoch: clock.microseconds.floorDivided(by: 86_400_000_000).quotient)
        }

        mutating func emit(_ data: EventData, actor: String?, minutesLater: ClosedRange<Int>) {
            clock = clock.adding(seconds: Int64(int(minutesLater)) * 60)
            let event = Event(id: random.uuid(), postingID: postingID, occurredAt: clock, actor: actor, data: data)
            // The generator is held to the same rules as any client.
            do {
                state = try state.deciding(event, context: &context)
            } catch {
                preconditionFailure("demo generator broke a rule: \(error)")
            }
            events.append(event)
        }

        mutating func generatePosting(_ index: Int) -> [Event] {
            let spanMicros: Int64 = 600 * 86_400 * 1_000_000
            let offset = history.postings > 1 ? spanMicros / Int64(history.postings) * Int64(index) : 0
            clock = Timestamp(microseconds: history.start.microseconds + offset + Int64(int(0...3600)) * 1_000_000)
            postingID = history.postingPrefix + String(index + 1000)
            state = PostingState(postingID: postingID)
            events = []
            let company = DemoHistory.companies[int(0...DemoHistory.companies.count - 1)]
            let stipend: Stipend =
                chance(0.55)
                ? .fixed(amountMinor: Int64(int(40...400)) * 500, currency: company.currency)
                : .hourly(rateMinor: Int64(int(30...120)) * 50, maxHours: Int64(int(10...60)), currency: company.currency)
            let openings = Int64(int(1...3))
            let title = DemoHistory.topics[int(0...DemoHistory.topics.count - 1)]
            emit(
                .posted(companyID: company.id, title: title, openings: openings, stipend: stipend),
                actor: "company:\(company.id)", minutesLater: 0...0)

            var applicants: [String] = []
            for _ in 0..<int(2...7) {
                let student = "s-\(String(int(1...Swift.max(200, history.postings * 2))))"
                guard state.students[student] == nil else { continue }
                let university = DemoHistory.universities[int(0...DemoHistory.universities.count - 1)]
                emit(.applied(studentID: student, universityID: university), actor: "student:\(student)", minutesLater: 30...2880)
                applicants.append(student)
            }
            // The most recent postings are still taking applications.
            if index >= history.postings - Swift.max(1, history.postings / 20) { return events }
            if applicants.count > 1, chance(0.15) {
                let s = applicants.removeLast()
                emit(.withdrawn(studentID: s, reason: "accepted another offer"), actor: "student:\(s)", minutesLater: 60...1440)
            }
            let chosen = Array(applicants.prefix(Int(openings)))
            for s in chosen {
                emit(.selected(studentID: s), actor: "company:\(company.id)", minutesLater: 60...2880)
            }
            if chance(0.6) {
                emit(.closed(reason: chance(0.5) ? "openings filled" : nil), actor: "company:\(company.id)", minutesLater: 10...600)
            }
            for s in chosen { work(student: s, stipend: stipend, company: company.id) }
            return events
        }

        mutating func work(student s: String, stipend: Stipend, company: String) {
            let actor = "student:\(s)"
            let hourly: Bool
            if case .hourly = stipend { hourly = true } else { hourly = false }
            let entries = hourly ? int(2...8) : int(0...3)
            for _ in 0..<entries {
                let note = chance(0.3) ? "research and drafting" : nil
                emit(
                    .hoursLogged(studentID: s, minutes: Int64(int(2...16)) * 30, workDate: today, note: note, reason: nil),
                    actor: actor, minutesLater: 600...2880)
            }
            if entries > 0, chance(0.15), let total = state.students[s]?.minutesLogged, total >= 30 {
                emit(
                    .hoursLogged(
                        studentID: s, minutes: -Swift.min(total, 60), workDate: today, note: nil, reason: "double-counted session"),
                    actor: actor, minutesLater: 60...600)
            }
            if chance(0.08) {
                emit(.withdrawn(studentID: s, reason: "health reasons"), actor: actor, minutesLater: 60...2880)
                payEarned(student: s, stipend: stipend, company: company)
                return
            }
            emit(
                .delivered(studentID: s, summary: "first version", url: "https://example.org/work/\(postingID)/\(s)"),
                actor: actor, minutesLater: 60...1440)
            let reviewer = "company:\(company)"
            if chance(0.25) {
                emit(
                    .reviewed(studentID: s, accepted: false, rating: Int64(int(2...4)), comment: "please revise section 2"),
                    actor: reviewer, minutesLater: 60...2880)
                if chance(0.2) { return }  // revision still under way
                emit(.delivered(studentID: s, summary: "revised", url: nil), actor: actor, minutesLater: 60...2880)
            }
            if chance(0.1) { return }  // awaiting review
            emit(
                .reviewed(studentID: s, accepted: true, rating: Int64(int(3...5)), comment: nil), actor: reviewer,
                minutesLater: 60...2880)
            payEarned(student: s, stipend: stipend, company: company)
        }

        mutating func nextPaymentRef() -> String {
            paymentCounter += 1
            return "ch_\(String(history.seed, radix: 36))_\(paymentCounter)"
        }

        mutating func payEarned(student s: String, stipend: Stipend, company: String) {
            guard let st = state.students[s] else { return }
            let earned = st.money(stipend: stipend).earnedMinor
            guard earned > 0, chance(0.9) else { return }
            let actor = "company:\(company)"
            let currency = stipend.currency
            if chance(0.05) {
                // A payment that bounced: reversed, then paid again.
                let bounced = nextPaymentRef()
                emit(
                    .paid(studentID: s, amountMinor: earned, currency: currency, paymentRef: bounced, method: "card"),
                    actor: actor, minutesLater: 60...1440)
                emit(
                    .paymentReversed(studentID: s, paymentRef: bounced, reason: "card declined"), actor: actor,
                    minutesLater: 60...1440)
            }
            if chance(0.3), earned >= 2 {
                let first = earned / 2
                emit(
                    .paid(studentID: s, amountMinor: first, currency: currency, paymentRef: nextPaymentRef(), method: "bank_transfer"),
                    actor: actor, minutesLater: 60...1440)
                if chance(0.8) {
                    emit(
                        .paid(
                            studentID: s, amountMinor: earned - first, currency: currency, paymentRef: nextPaymentRef(),
                            method: "bank_transfer"),
                        actor: actor, minutesLater: 1440...10080)
                }
            } else {
                emit(
                    .paid(studentID: s, amountMinor: earned, currency: currency, paymentRef: nextPaymentRef(), method: "bank_transfer"),
                    actor: actor, minutesLater: 60...1440)
            }
        }
    }
}
