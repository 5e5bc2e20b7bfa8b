import Foundation
import LedgerCore
import Testing

@Suite("Posting state snapshots")
struct SnapshotTests {
    /// Random states covering every optional present and absent, both stipend kinds, and text that
    /// needs escaping (quotes, backslashes, slashes, control characters, non-ASCII).
    static func randomStates(count: Int, seed: UInt64) -> [PostingState] {
        var rng = SeededRandom(seed: seed)
        let texts = ["Data / ML intern", "Say \"hi\" \\ bye", "Ünïcødé — 日本語", "tab\there\nnewline", "plain", ""]
        func time() -> Timestamp { Timestamp(microseconds: Int64.random(in: 0...4_000_000_000_000_000, using: &rng)) }
        func maybe<T>(_ make: () -> T) -> T? { Bool.random(using: &rng) ? make() : nil }
        return (0..<count).map { n in
            var state = PostingState(postingID: "p-\(n)")
            state.version = Int64.random(in: 1...500, using: &rng)
            state.companyID = "c-\(n % 7)"
            state.title = texts.randomElement(using: &rng)!
            state.openings = Int64.random(in: 0...50, using: &rng)
            state.stipend =
                Bool.random(using: &rng)
                ? .fixed(amountMinor: Int64.random(in: 0...Int64.max, using: &rng), currency: "EUR")
                : .hourly(rateMinor: Int64.random(in: 0...100_000, using: &rng), maxHours: Int64.random(in: 0...500, using: &rng), currency: "USD")
            state.isOpen = Bool.random(using: &rng)
            state.createdAt = time()
            for s in 0..<Int.random(in: 0...6, using: &rng) {
                var student = StudentState(universityID: "u-\(s)", appliedAt: time())
                student.withdrawn = Bool.random(using: &rng)
                student.withdrawnAt = maybe(time)
                student.selectedAt = maybe(time)
                student.minutesLogged = Int64.random(in: 0...100_000, using: &rng)
                student.deliveryPending = Bool.random(using: &rng)
                student.deliveredAt = maybe(time)
                student.latestReviewAccepted = maybe { Bool.random(using: &rng) }
                student.rating = maybe { Int64.random(in: 1...5, using: &rng) }
                student.reviewedAt = maybe(time)
                student.payments = (0..<Int.random(in: 0...3, using: &rng)).map { i in
                    Payment(ref: "pay/\(i)\"x", amountMinor: Int64.random(in: 1...1_000_000, using: &rng), occurredAt: time(), reversed: Bool.random(using: &rng))
                }
                student.lastPaidAt = maybe(time)
                state.students["s-\(s)-\(n)"] = student
            }
            return state
        }
    }

    @Test func writesWhatTheCodableConformanceWrites() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for state in Self.randomStates(count: 300, seed: 7) {
            let expected = String(decoding: try encoder.encode(state), as: UTF8.self)
            #expect(state.snapshotText == expected)
        }
    }

    @Test func readsBothItsOwnTextAndFoundationsAnyWay() throws {
        let plain = JSONEncoder()  // escapes slashes, keys in any order: snapshots written before this codec
        for state in Self.randomStates(count: 300, seed: 11) {
            #expect(try PostingState(snapshot: state.snapshotText) == state)
            #expect(try PostingState(snapshot: String(decoding: try plain.encode(state), as: UTF8.self)) == state)
            #expect(try JSONDecoder().decode(PostingState.self, from: Data(state.snapshotText.utf8)) == state)
        }
    }

    @Test func rejectsTextThatIsNotASnapshot() {
        for text in ["", "{}", "[]", #"{"postingID":"p-1"}"#, "not json"] {
            #expect(throws: SnapshotError.self) { try PostingState(snapshot: text) }
        }
        var state = PostingState(postingID: "p-1")
        state.version = 3
        let broken = state.snapshotText.replacingOccurrences(of: #""version":3"#, with: #""version":"3""#)
        #expect(throws: SnapshotError.self) { try PostingState(snapshot: broken) }
    }
}
