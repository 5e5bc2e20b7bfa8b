import ArgumentParser
import LedgerCore
import LedgerProjections
import LedgerStore

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write events as NDJSON (envelope plus position, version, recorded_at, hash) in position order.",
        discussion: "Follows the same gap-free order as the API's feed: the output never misses an event committed later with a lower position.")

    @OptionGroup var ledger: LedgerOptions

    @Option(help: ArgumentHelp("Only events after this position.", valueName: "position"))
    var after: Int64 = 0

    @Option(help: ArgumentHelp("Only this posting's stream.", valueName: "posting-id"))
    var posting: String?

    func run() async throws {
        let (after, posting) = (after, posting)
        if let posting, !Identifier.isValid(posting) { throw ValidationError("--posting \(posting) is not a valid identifier") }
        let count = try await ledger.withStore(migrate: false) { _, store in
            var out = OutputBuffer()
            var cursor = after
            var count = 0
            while true {
                let batch = try await store.feed(after: cursor, limit: 5000, postingID: posting)
                for event in batch { out.line(event.json) }
                count += batch.count
                guard let last = batch.last else { break }
                cursor = last.position
            }
            out.flush()
            return count
        }
        Terminal.note("exported \(count) events")
    }
}

struct StreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Print one posting's stream as NDJSON, in version order.")

    @OptionGroup var ledger: LedgerOptions

    @Argument(help: ArgumentHelp("The posting's id.", valueName: "posting-id"))
    var postingID: String

    func run() async throws {
        guard Identifier.isValid(postingID) else { throw ValidationError("\(postingID) is not a valid posting id") }
        let postingID = postingID
        let events = try await ledger.withStore(migrate: false) { _, store in try await store.stream(postingID) }
        guard !events.isEmpty else { throw Failure(code: 1, message: "posting \(postingID) has no events") }
        var out = OutputBuffer()
        for event in events { out.line(event.json) }
        out.flush()
    }
}
