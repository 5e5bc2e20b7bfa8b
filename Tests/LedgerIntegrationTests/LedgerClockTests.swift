import Foundation
import LedgerCore
@testable import LedgerStore
import Testing

/// A clock behind its log (as after a pg_dump restore into a cluster whose transaction ids are
/// lower): appends refuse rather than take positions below recorded ones, and opening the ledger
/// as the owner (migrate, the daemon's start) moves the clock forward.
@Suite("Ledger clock")
struct LedgerClockTests {
    @Test("a clock behind the log refuses appends with the command that fixes it, and migrate moves it above every recorded position")
    func clockBehindTheLog() async throws {
        try await TestLedger.with { ledger in
            var e = Events("p-clock")
            let recorded = try await ledger.store.append(e.placement("s-1")).events
            let highest = recorded.map(\.position).max()!
            let healthy = try await ledger.asOwner { try await LedgerClock.read(on: $0, logger: TestCluster.logger) }
            #expect(!healthy.isBehind && healthy.headroom >= 0 && healthy.highest == highest)
            // The restore: the same log, a clock whose transaction ids are far lower.
            try await ledger.exec("UPDATE ledger_clock SET position_offset = position_offset - \((highest >> 16) + 5_000)")
            let behind = try await ledger.asOwner { try await LedgerClock.read(on: $0, logger: TestCluster.logger) }
            #expect(behind.isBehind && behind.headroom < 0)
            let before = try await ledger.count()
            do {
                _ = try await ledger.store.append([e.make(.closed(reason: nil))])
                Issue.record("an append ran on a clock behind the log")
            } catch let error as LedgerError {
                #expect(error.code == .unavailable)
                #expect(error.message.contains("placementctl migrate"), "\(error.message)")
            }
            #expect(try await ledger.count() == before, "nothing recorded")
            // The daemon's role may not move the clock: it says which command does.
            do {
                try await ledger.asApp { try await LedgerClock.guardAgainstRestore(on: $0, logger: TestCluster.logger) }
                Issue.record("the daemon's role moved the clock")
            } catch let error as ConfigurationError {
                #expect(error.message.contains("placementctl migrate"))
            }
            // Opening as the owner (what migrate and the daemon's start do) moves it.
            let reopened = try await LedgerDatabase.open(owner: ledger.database.ownerConfiguration, app: ledger.app, logger: TestCluster.logger)
            reopened.close()
            let moved = try await ledger.asOwner { try await LedgerClock.read(on: $0, logger: TestCluster.logger) }
            #expect(!moved.isBehind && moved.headroom >= LedgerClock.margin - 10, "head room \(moved.headroom)")
            let next = try await ledger.store.append([e.make(.closed(reason: nil))]).events
            #expect(next[0].position > highest)
            // A reader that had read the old log up to its end sees the new event.
            try await ProjectionTests.waitUntil {
                try await ledger.store.feed(after: highest, limit: 10, postingID: "p-clock").map(\.position) == [next[0].position]
            }
            #expect(try await ledger.integrity.verify().ok)
        }
    }
}
