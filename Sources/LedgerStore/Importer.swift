import Foundation
public import LedgerCore

#if canImport(Glibc)
import Glibc
#endif

/// Bulk appends: NDJSON imports and demo history. Events go through the same rules and the same
/// append path as the API, in transactions of `chunkSize` events.
///
/// Not all-or-nothing: at the first bad line the events before it are recorded (in order, so the
/// ledger stays consistent) and the import stops, naming the line and the rule. Re-running the same
/// file after fixing that line skips the events already recorded (same id, same content).
public struct Importer: Sendable {
    public let store: EventStore
    public var chunkSize: Int

    public init(store: EventStore, chunkSize: Int = 5000) {
        self.store = store
        self.chunkSize = min(chunkSize, 60_000)
    }

    public struct Progress: Sendable {
        public var lines: Int
        public var imported: Int
        public var skipped: Int
        public var elapsed: Duration
        public var eventsPerSecond: Double {
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return seconds > 0 ? Double(imported + skipped) / seconds : 0
        }
    }

    public struct Report: Sendable {
        public var progress: Progress
        /// The line that stopped the import and why.
        public var failure: (line: Int, error: LedgerError)?
        public var lastPosition: Int64?
    }

    /// One input item: the line number and the event, or why that line is not an event.
    public typealias Item = (line: Int, event: Result<Event, LedgerError>)

    public func run(_ items: some Sequence<Item>, progress: (@Sendable (Progress) -> Void)? = nil) async throws -> Report {
        let clock = ContinuousClock()
        let start = clock.now
        var state = Progress(lines: 0, imported: 0, skipped: 0, elapsed: .zero)
        var chunk: [Event] = []
        var lines: [Int] = []
        var lastPosition: Int64?
        chunk.reserveCapacity(chunkSize)

        // One chunk is appended while the next one is parsed. A chunk starts only after the one
        // before it is recorded, so a failure still stops the import at its line.
        var pending: (task: Task<Result<AppendOutcome, LedgerError>, any Error>, lines: [Int])?
        defer { pending?.task.cancel() }

        /// Waits for the chunk in flight; returns the failure that stops the import, if any.
        func settle() async throws -> (line: Int, error: LedgerError)? {
            guard let inFlight = pending else { return nil }
            pending = nil
            let outcome: AppendOutcome
            switch try await inFlight.task.value {
            case .failure(let error): return (inFlight.lines[error.eventIndex ?? 0], error)
            case .success(let result): outcome = result
            }
            state.imported += outcome.events.count
            state.skipped += outcome.skipped
            if let last = outcome.events.last { lastPosition = last.position }
            state.elapsed = clock.now - start
            progress?(state)
            if let rejection = outcome.rejection { return (inFlight.lines[rejection.eventIndex ?? 0], rejection) }
            return nil
        }

        /// Settles the chunk in flight, then sends the current one.
        func flush() async throws -> (line: Int, error: LedgerError)? {
            if let failure = try await settle() { return failure }
            guard !chunk.isEmpty else { return nil }
            let events = chunk
            let store = store
            pending = (
                Task {
                    do { return .success(try await store.append(events, mode: .prefix)) } catch let error as LedgerError { return .failure(error) }
                }, lines
            )
            chunk.removeAll(keepingCapacity: true)
            lines.removeAll(keepingCapacity: true)
            return nil
        }

        for (line, result) in items {
            state.lines = line
            switch result {
            case .success(let event):
                chunk.append(event)
                lines.append(line)
                if chunk.count >= chunkSize, let failure = try await flush() {
                    return Report(progress: state, failure: failure, lastPosition: lastPosition)
                }
            case .failure(let error):
                if let failure = try await flush() {
                    return Report(progress: state, failure: failure, lastPosition: lastPosition)
                }
                if let failure = try await settle() {
                    return Report(progress: state, failure: failure, lastPosition: lastPosition)
                }
                return Report(progress: state, failure: (line, error), lastPosition: lastPosition)
            }
        }
        var failure = try await flush()
        if failure == nil { failure = try await settle() }
        state.elapsed = clock.now - start
        return Report(progress: state, failure: failure, lastPosition: lastPosition)
    }
}

/// NDJSON envelopes from a file descriptor, one `Importer.Item` per non-blank line.
///
/// A line may also be a line of `placementctl export`: an envelope with the fields the exporting
/// ledger assigned (`position`, `version`, `recorded_at`, `hash`). Those are the other ledger's and
/// this one assigns its own, so they are set aside, after checking that they read as a whole
/// export does: positions rising from line to line and each posting's versions following on
/// (1, 2, 3, …) without a gap. A truncated, reordered or spliced export is refused at its line.
public struct NDJSONLines: Sequence, IteratorProtocol {
    let fd: Int32
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var start = 0
    var end = 0
    var eof = false
    var lineNumber = 0
    /// Of the export lines read so far: the last position, and each posting's last version.
    var lastPosition: Int64 = 0
    var versions: [String: Int64] = [:]

    public init(fileDescriptor: Int32) { fd = fileDescriptor }

    static let assignedFields = ["position", "version", "recorded_at", "hash"]

    public mutating func next() -> Importer.Item? {
        while true {
            guard let bytes = nextLine() else { return nil }
            lineNumber += 1
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do throws(LedgerError) {
                let json: JSON
                do { json = try JSONParser.parse(bytes) } catch { throw error.ledgerError(batch: false) }
                guard case .object(var members) = json, Self.assignedFields.contains(where: { members[$0] != nil }) else {
                    return (lineNumber, .success(try Event(json: json)))
                }
                let assigned = Self.assignedFields.map { members.removeValue(forKey: $0) }
                let event = try Event(json: .object(members))
                try checkExported(event, position: assigned[0], version: assigned[1], recordedAt: assigned[2], hash: assigned[3])
                return (lineNumber, .success(event))
            } catch {
                return (lineNumber, .failure(error))
            }
        }
    }

    /// An exported event's assigned fields: all four, well formed, and following on from the lines before.
    private mutating func checkExported(_ event: Event, position: JSON?, version: JSON?, recordedAt: JSON?, hash: JSON?) throws(LedgerError) {
        func refuse(_ message: String, _ field: String) -> LedgerError {
            LedgerError(.invalidField, "an exported event's \(message)", field: field, eventID: event.id)
        }
        guard case .int(let position)? = position, position > 0 else { throw refuse("position must be a positive integer", "position") }
        guard case .int(let version)? = version, version >= 1 else { throw refuse("version must be an integer from 1", "version") }
        guard case .string(let recorded)? = recordedAt, Timestamp(rfc3339: recorded) != nil else {
            throw refuse("recorded_at must be an RFC 3339 time", "recorded_at")
        }
        guard case .string(let hex)? = hash, hex.utf8.count == 64, Hex.decode(hex) != nil else {
            throw refuse("hash must be 64 hex digits", "hash")
        }
        guard position > lastPosition else {
            throw refuse("position \(position) is not above the line before's (\(lastPosition)): not an export in its order", "position")
        }
        if let previous = versions[event.postingID], version != previous + 1 {
            throw refuse(
                "version \(version) of posting \(event.postingID) does not follow version \(previous): the export is missing events or out of order",
                "version")
        }
        lastPosition = position
        versions[event.postingID] = version
    }

    private mutating func nextLine() -> [UInt8]? {
        while true {
            if let newline = buffer[start..<end].firstIndex(of: 0x0A) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                return line
            }
            if eof {
                guard start < end else { return nil }
                let line = Array(buffer[start..<end])
                start = end
                return line
            }
            if start > 0 {
                buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
                end -= start
                start = 0
            }
            if end == buffer.count { buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count)) }
            let n = buffer.withUnsafeMutableBytes { raw in
                read(fd, raw.baseAddress! + end, raw.count - end)
            }
            if n <= 0 { eof = true } else { end += n }
        }
    }
}
