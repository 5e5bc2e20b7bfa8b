import LedgerCore
import LedgerProjections
@testable import LedgerStore
import PostgresNIO
import Testing

@Suite("State cache")
struct StateCacheTests {
    static func state(_ id: String, version: Int64) -> PostingState {
        var state = PostingState(postingID: id)
        state.version = version
        return state
    }

    @Test("an entry is found only with its tag; two generations of `limit` entries are kept, the older one dropped whole")
    func tagsAndGenerations() {
        let cache = StateCache(limit: 3)
        cache.store(Self.state("p-1", version: 1), for: "p-1", tag: [1])
        #expect(cache.state("p-1", tag: [1])?.version == 1)
        #expect(cache.state("p-1", tag: [2]) == nil, "another head hash: another history")
        #expect(cache.state("p-1") == nil)
        cache.store(Self.state("p-2", version: 1), for: "p-2")
        cache.store(Self.state("p-3", version: 1), for: "p-3")
        cache.store(Self.state("p-4", version: 1), for: "p-4")  // the newer generation was full: it becomes the older
        #expect(cache.count == 4)
        #expect(cache.state("p-2")?.version == 1, "found in the older generation, moved to the newer")
        cache.store(Self.state("p-5", version: 1), for: "p-5")
        cache.store(Self.state("p-6", version: 1), for: "p-6")  // full again: the older (p-1, p-3) is dropped
        #expect(cache.state("p-1", tag: [1]) == nil)
        #expect(cache.state("p-3") == nil)
        #expect(cache.state("p-2") != nil && cache.state("p-4") != nil && cache.state("p-5") != nil && cache.state("p-6") != nil)
    }

    @Test("an append after another process appended to the stream uses the stored snapshot, not this process's cached state")
    func appendCacheFollowsTheHead() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-append-cache")
            _ = try await ledger.store.append([e.posted(), e.applied("s-1")])
            #expect(ledger.store.streamStates.state("p-append-cache", tag: try await head())?.students.count == 1)
            // Another process's store (its own cache) appends to the same stream.
            let other = EventStore(client: ledger.store.client, logger: TestCluster.logger, readModels: InlineProjections())
            _ = try await other.append([e.applied("s-2")])
            // This process's cached state is for the old head: the snapshot is used, so the rules see s-2.
            await #expect(throws: LedgerError.self) { try await ledger.store.append([e.applied("s-2")]) }
            _ = try await ledger.store.append([e.applied("s-3")])
            #expect(ledger.store.streamStates.state("p-append-cache", tag: try await head())?.students.keys.sorted() == ["s-1", "s-2", "s-3"])
            func head() async throws -> [UInt8] {
                Hex.decode(try await ledger.text("SELECT encode(head_hash, 'hex') FROM streams WHERE posting_id = 'p-append-cache'")) ?? []
            }
        }
    }
}
