import ArgumentParser
import LedgerCore
import LedgerProjections
import LedgerStore

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a realistic, reproducible placement history and append it (or print it as NDJSON).",
        discussion: """
            Several companies, universities and currencies, fixed and hourly stipends, hour corrections, revisions, \
            partial payments, reversals, withdrawals and closed postings, about 20 events per posting. The same \
            --postings and --seed always give the same events (same ids), so running it twice appends nothing new.
            """)

    @OptionGroup var ledger: LedgerOptions

    @Option(help: "Number of postings to generate.")
    var postings = 200

    @Option(help: "Seed of the generator.")
    var seed: UInt64 = 42

    @Flag(help: "Print the events as NDJSON on standard output instead of appending them (input for `import`).")
    var ndjson = false

    func validate() throws {
        guard postings >= 1 else { throw ValidationError("--postings must be at least 1") }
    }

    func run() async throws {
        let history = DemoHistory(postings: postings, seed: seed)
        if ndjson {
            var out = OutputBuffer()
            for event in history { out.line(event.json) }
            out.flush()
            return
        }
        let report = try await ledger.withStore { _, store in
            try await Importer(store: store).run(history.enumerated().lazy.map { ($0.offset + 1, .success($0.element)) }) { p in
                Terminal.progress("appended \(p.imported) demo events — \(Int(p.eventsPerSecond)) events/s")
            }
        }
        Terminal.endProgress()
        printSummary(report.progress, verb: "appended")
        if let (line, error) = report.failure {
            throw Failure(code: 1, message: "demo event \(line) was rejected: \(error)")
        }
    }
}
