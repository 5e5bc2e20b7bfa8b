import ArgumentParser
import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore

#if canImport(Glibc)
import Glibc
#endif

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append NDJSON event envelopes from FILE (or - for standard input).",
        discussion: """
            One envelope per line, exactly as POST /v1/events takes it; every event is checked by the same rules. \
            Events are written in transactions of --chunk-size events.

            The output of `placementctl export` is taken as it is: its lines' assigned fields (position, version, \
            recorded_at, hash) are the exporting ledger's, so they are checked to read as a whole export (positions \
            rising, each posting's versions following on without a gap) and set aside; this ledger assigns its own.

            Not all-or-nothing: at the first bad line, the events before it are recorded (in order, so the ledger \
            stays consistent), nothing after it is, and the command exits 1 naming the line and the rule it broke. \
            Fix that line and run the same file again: events already recorded (same id and content) are skipped.
            """)

    @OptionGroup var ledger: LedgerOptions

    @Argument(help: ArgumentHelp("NDJSON file to import, or - for standard input.", valueName: "file"))
    var file: String

    @Option(help: "Events per transaction (at most 60000).")
    var chunkSize = 5000

    func validate() throws {
        guard (1...60_000).contains(chunkSize) else { throw ValidationError("--chunk-size must be between 1 and 60000") }
    }

    func run() async throws {
        let fd: Int32 = file == "-" ? STDIN_FILENO : open(file, O_RDONLY)
        guard fd >= 0 else { throw Failure(code: 2, message: "cannot open \(file): \(String(cString: strerror(errno)))") }
        defer { if fd != STDIN_FILENO { close(fd) } }
        let chunkSize = chunkSize
        let report = try await ledger.withStore { _, store in
            try await Importer(store: store, chunkSize: chunkSize).run(NDJSONLines(fileDescriptor: fd)) { p in
                Terminal.progress("imported \(p.imported) events, \(p.skipped) already present — \(Int(p.eventsPerSecond)) events/s")
            }
        }
        Terminal.endProgress()
        printSummary(report.progress, verb: "imported")
        if let (line, error) = report.failure {
            var message = "line \(line): \(error.code.rawValue): \(error.message)"
            if let field = error.field { message += " (field \(field))" }
            throw Failure(code: 1, message: message + "\nnothing from line \(line) on was imported; the lines before it were")
        }
    }
}

func printSummary(_ progress: Importer.Progress, verb: String) {
    let seconds = Double(progress.elapsed.components.seconds) + Double(progress.elapsed.components.attoseconds) / 1e18
    Terminal.note(
        "\(verb) \(progress.imported) events, \(progress.skipped) already present, in "
            + String(format: "%.1f s (%.0f events/s)", seconds, progress.eventsPerSecond))
}
