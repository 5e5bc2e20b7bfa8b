import ArgumentParser
import LedgerProjections
import LedgerStore

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the schema migrations this binary carries (a no-op when the database is current).",
        discussion: """
            Refuses a database migrated by a newer binary. Safe to run concurrently with other processes. Also moves the \
            ledger's clock forward when it is behind the log (after a pg_dump restore or a copy into another cluster), so \
            that new events get positions above every recorded one.
            """)

    @OptionGroup var ledger: LedgerOptions

    func run() async throws {
        let status = try await ledger.withStore { _, store in
            // Opening moved a clock behind the log forward when this role may; one that may not is an error here.
            _ = try await store.client.withConnection { try await LedgerClock.guardAgainstRestore(on: $0, logger: store.logger) }
            return try await LedgerStatus.read(store.client, logger: store.logger)
        }
        print("schema at version \(status.schemaVersion); clock head room \(status.clock.headroom) transaction ids")
    }
}
