import LedgerCore
import Testing

@Suite("Recently used map")
struct RecentlyUsedTests {
    @Test("a key in use survives a flood of new keys; one unused for a whole generation is dropped")
    func keysInUseSurvive() {
        var map = RecentlyUsed<String, Int>(generation: 10)
        map.set(1, for: "kept")
        map.set(2, for: "idle")
        for n in 0..<100 {
            map.set(n, for: "new-\(n)")
            if n % 5 == 0 { #expect(map.get("kept") == 1, "pushed out at \(n)") }
        }
        #expect(map.get("kept") == 1)
        #expect(map.get("idle") == nil)
        #expect(map.count <= 20)
    }
}
