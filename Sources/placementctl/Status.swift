import ArgumentParser
import LedgerProjections
import LedgerStore

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the database, schema version, event counts and seals.")

    @OptionGroup var ledger: LedgerOptions

    func run() async throws {
        let location = ledger.location
        let status = try await ledger.withStore(migrate: false) { _, store in
            try await LedgerStatus.read(store.client, logger: store.logger)
        }
        switch location {
        case .url: print("database:        external (--database-url / PLACEMENT_DATABASE_URL)")
        case .embedded(let dir): print("database:        embedded cluster in \(dir)")
        }
        let schemaNote = status.schemaVersion == status.binarySchemaVersion ? "current" : "this binary knows \(status.binarySchemaVersion): run placementctl migrate"
        print("schema version:  \(status.schemaVersion) (\(schemaNote))")
        print("events:          \(status.events) in \(status.streams) postings")
        print("last position:   \(status.lastPosition) (gap-free horizon \(status.horizon))")
        print("seals:           \(status.seals)" + (status.lastSealPosition.map { ", latest up to position \($0)" } ?? ""))
        print("unsealed events: \(status.unsealedEvents)")
        let clock = status.clock
        if clock.isBehind {
            print("clock:           BEHIND the log: the next position \(clock.next) is not above the highest recorded, \(clock.highest); run placementctl migrate")
        } else {
            print("clock:           next position \(clock.next), head room \(clock.headroom) transaction ids above the highest recorded position (offset \(clock.offset))")
        }
    }
}
