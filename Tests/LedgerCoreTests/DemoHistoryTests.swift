@testable import LedgerCore
import Testing

@Suite("Demo history")
struct DemoHistoryTests {
    /// One generated history shared by the checks below (generation is deterministic).
    static let history = Array(DemoHistory(postings: 300))

    @Test func sameSeedSameHistory() {
        let a = DemoHistory(postings: 200, seed: 7).prefix(500).map(\.contentFingerprint)
        let b = DemoHistory(postings: 200, seed: 7).prefix(500).map(\.contentFingerprint)
        #expect(a.count == 500)
        #expect(a == b)
        #expect(Array(DemoHistory(postings: 300)).map(\.contentFingerprint) == Self.history.map(\.contentFingerprint))
    }

    @Test func differentSeedDifferentHistory() {
        let a = DemoHistory(postings: 200, seed: 7).prefix(500).map(\.contentFingerprint)
        let b = DemoHistory(postings: 200, seed: 8).prefix(500).map(\.contentFingerprint)
        #expect(a != b)
        #expect(Set(a).isDisjoint(with: b), "ids are drawn from the seed, so no event repeats")
    }

    @Test func everyEventPassesTheRulesInOrder() {
        var states: [String: PostingState] = [:]
        var context = DecisionContext(now: Timestamp(rfc3339: "9999-01-01T00:00:00Z")!)
        let (accepted, error) = BatchDecision.decide(Self.history, states: &states, context: &context)
        #expect(error == nil, "\(String(describing: error))")
        #expect(accepted.count == Self.history.count)
        #expect(states.count == 300)
    }

    @Test func everyEventPassesValidation() {
        var failures: [String] = []
        for event in Self.history {
            do {
                let decoded = try Event(bytes: event.contentFingerprint)
                if decoded != event { failures.append("\(event.id) changed on decoding") }
            } catch {
                failures.append("\(event.id): \(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
    }

    @Test func includesEveryEventType() {
        let types = Set(Self.history.map(\.type))
        #expect(types == Set(EventType.allCases), "missing: \(Set(EventType.allCases).subtracting(types))")
    }

    @Test func includesSeveralCurrenciesAndBothStipendKinds() {
        var currencies: Set<String> = []
        var kinds: Set<String> = []
        for event in Self.history {
            if case .posted(_, _, _, let stipend) = event.data {
                currencies.insert(stipend.currency)
                kinds.insert(stipend.kind)
                #expect(Currency.isValid(stipend.currency))
            }
        }
        #expect(currencies.count >= 3, "\(currencies)")
        #expect(kinds == ["fixed", "hourly"])
    }

    @Test func includesCorrectionsRevisionsAndReversals() {
        #expect(Self.history.contains { if case .hoursLogged(_, let m, _, _, let reason) = $0.data { m < 0 && reason != nil } else { false } })
        #expect(Self.history.contains { if case .reviewed(_, false, _, _) = $0.data { true } else { false } })
        #expect(Self.history.contains { $0.type == .paymentReversed })
    }

    @Test func idsAreUniqueLowerCaseUUIDs() {
        let ids = Self.history.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { Identifier.canonicalUUID($0) == $0 })
    }

    @Test func paymentRefsAreUnique() {
        let refs = Self.history.compactMap { e -> String? in
            if case .paid(_, _, _, let ref, _) = e.data { ref } else { nil }
        }
        #expect(!refs.isEmpty)
        #expect(Set(refs).count == refs.count)
    }

    @Test func oneStreamPerPostingWithIncreasingTimes() {
        var last: [String: Timestamp] = [:]
        var outOfOrder = 0
        for event in Self.history {
            if let previous = last[event.postingID], !(previous < event.occurredAt) { outOfOrder += 1 }
            last[event.postingID] = event.occurredAt
        }
        #expect(outOfOrder == 0)
        #expect(last.count == 300)
        let firsts = Dictionary(grouping: Self.history, by: \.postingID).values.map { $0.first?.type }
        #expect(firsts.allSatisfy { $0 == .posted })
    }

    @Test func timesStartAtTheStart() {
        let start = Timestamp(rfc3339: "2024-01-01T00:00:00Z")!
        let events = Array(DemoHistory(postings: 20, seed: 1, start: start))
        #expect(!events.isEmpty)
        #expect(events.allSatisfy { start <= $0.occurredAt })
        #expect(Self.history.allSatisfy { DemoHistory.defaultStart <= $0.occurredAt })
    }

    @Test func noPostingsNoEvents() {
        #expect(Array(DemoHistory(postings: 0)).isEmpty)
        let one = Array(DemoHistory(postings: 1))
        #expect(one.first?.type == .posted)
    }

    @Test func seededRandomIsReproducibleAndMakesV4UUIDs() {
        var a = SeededRandom(seed: 99)
        var b = SeededRandom(seed: 99)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        var c = SeededRandom(seed: 100)
        #expect(a.next() != c.next())
        let uuid = a.uuid()
        #expect(Identifier.canonicalUUID(uuid) == uuid)
        let chars = Array(uuid)
        #expect(chars[14] == "4", "version 4")
        #expect("89ab".contains(chars[19]), "RFC 4122 variant")
    }
}
