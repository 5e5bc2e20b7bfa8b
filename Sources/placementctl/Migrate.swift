import ArgumentParser
import LedgerProjections
import LedgerStore

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the schema migrations this binary carries (a no-op when the database is current).",
        discussion: "Refuses a database migrated by a newer binary. Safe to run concurrently with other processes.")

    @OptionGroup var ledger: LedgerOptions

    func run() async throws {
        let version = try await ledger.withStore { _, store in
            try await LedgerStatus.read(store.client, logger: store.logger).schemaVersion
        }
        print("schema at version \(version)")
    }
}
