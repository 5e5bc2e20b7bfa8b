import LedgerCore
import Synchronization

/// Posting states kept in memory between append transactions, so the next transaction on a
/// posting need not parse its snapshot text again (on a busy posting that parse was the largest
/// single cost of an append: see docs/performance.md).
///
/// Each entry carries a tag that says which state it is: the stream's head hash (the hash chain
/// pins the whole history, so a state stored by a transaction that then rolled back simply never
/// matches).
///
/// Bounded: two generations of at most `limit` entries; an entry found in the older one moves to
/// the newer, and the older one is dropped whole when the newer fills up.
final class StateCache: Sendable {
    private struct Entry {
        var tag: [UInt8]
        var state: PostingState
    }

    let limit: Int
    private let storage: Mutex<RecentlyUsed<String, Entry>>

    init(limit: Int = 2048) {
        self.limit = max(1, limit)
        self.storage = Mutex(RecentlyUsed(generation: self.limit))
    }

    /// The state of `postingID` stored with `tag`, if any.
    func state(_ postingID: String, tag: [UInt8] = []) -> PostingState? {
        storage.withLock { entries in
            guard let entry = entries.get(postingID), entry.tag == tag else { return nil }
            return entry.state
        }
    }

    func store(_ state: PostingState, for postingID: String, tag: [UInt8] = []) {
        storage.withLock { $0.set(Entry(tag: tag, state: state), for: postingID) }
    }

    var count: Int { storage.withLock { $0.count } }
}
