public import LedgerCore
public import PostgresNIO

/// The columns every event read selects, in the order `decodeRecorded` expects. Times and hashes
/// arrive in PostgreSQL's binary format (integer microseconds, raw bytes): nothing is rounded or
/// re-encoded on the way, and neither side spends time on text conversions.
let eventColumns = """
    position, id::text, posting_id, version, type, occurred_at, recorded_at,
    expected_version, actor, data::text, prev_hash, hash, hash_format
    """

/// What a fold reads of an event row, in the order `decodeForFold` expects: `evolve` looks at the
/// posting, the type, `occurred_at` and the data, nothing else. Rebuilds read the whole log: the
/// columns they leave out (the id as text, the hashes, `recorded_at`, …) are a third of each row's
/// decoding.
let foldColumns = "position, posting_id, type, occurred_at, data::text, id::text, recorded_at"

/// The gap-free bound, as a subquery: every position below it belongs to a transaction that has
/// committed or never will, so a reader that follows positions upward below it misses nothing.
let gapFreeBound = "(SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::int8 + position_offset) << 16 FROM ledger_clock)"

/// An event row that could not be understood (only tampering or a bug produces one).
public struct UnreadableEvent: Error, CustomStringConvertible, Sendable {
    public var position: Int64
    public var reason: String
    public var description: String { "event at position \(position) cannot be read: \(reason)" }
}

/// Decodes a row of `eventColumns` cell by cell (this is the hot loop of rebuilds and feeds).
func decodeRecorded(_ row: PostgresRow) throws -> RecordedEvent {
    var cells = Cells(row)
    let position: Int64 = try cells.next()
    let id: String = try cells.next()
    let postingID: String = try cells.next()
    let version: Int64 = try cells.next()
    let typeName: String = try cells.next()
    let occurredUs = try microseconds(try cells.cell(), position: position)
    let recordedUs = try microseconds(try cells.cell(), position: position)
    let expectedVersion: Int64? = try cells.next()
    let actor: String? = try cells.next()
    let data = try textBytes(try cells.cell(), position: position)
    let prev = try rawBytes(try cells.cell(), position: position)
    let hash = try rawBytes(try cells.cell(), position: position)
    let hashFormat: Int16 = try cells.next()
    var recorded = try makeRecorded(
        position: position, id: id, postingID: postingID, version: version, typeName: typeName, occurredUs: occurredUs,
        recordedUs: recordedUs, expectedVersion: expectedVersion, actor: actor, dataBytes: data, prev: prev, hash: hash)
    recorded.hashFormat = Int64(hashFormat)
    return recorded
}

/// Decodes a row of `foldColumns`. The result is for folding (and the history's rows, which name
/// the event and its recorded time) only: its actor is empty, its version 0 and its hashes empty.
func decodeForFold(_ row: PostgresRow) throws -> RecordedEvent {
    var cells = Cells(row)
    let position: Int64 = try cells.next()
    let postingID: String = try cells.next()
    let typeName: String = try cells.next()
    let occurredUs = try microseconds(try cells.cell(), position: position)
    let data = try textBytes(try cells.cell(), position: position)
    let id: String = try cells.next()
    let recordedUs = try microseconds(try cells.cell(), position: position)
    return try makeRecorded(
        position: position, id: id, postingID: postingID, version: 0, typeName: typeName, occurredUs: occurredUs,
        recordedUs: recordedUs, expectedVersion: nil, actor: nil, dataBytes: data, prev: [], hash: [])
}

/// A binary `timestamptz` is microseconds since 2000-01-01T00:00:00Z.
private func microseconds(_ cell: PostgresCell, position: Int64) throws(UnreadableEvent) -> Int64 {
    guard cell.dataType == .timestamptz, cell.format == .binary, var bytes = cell.bytes,
        let sinceY2K = bytes.readInteger(as: Int64.self)
    else { throw UnreadableEvent(position: position, reason: "\(cell.columnName) is not a binary timestamptz") }
    return sinceY2K + 946_684_800_000_000
}

/// A text cell's UTF-8 bytes, for the JSON parser (no String made and read back).
private func textBytes(_ cell: PostgresCell, position: Int64) throws(UnreadableEvent) -> [UInt8] {
    guard cell.dataType == .text, cell.format == .binary, let bytes = cell.bytes
    else { throw UnreadableEvent(position: position, reason: "\(cell.columnName) is not text") }
    return Array(bytes.readableBytesView)
}

private func rawBytes(_ cell: PostgresCell, position: Int64) throws(UnreadableEvent) -> [UInt8] {
    guard cell.dataType == .bytea, cell.format == .binary, let bytes = cell.bytes
    else { throw UnreadableEvent(position: position, reason: "\(cell.columnName) is not a binary bytea") }
    return Array(bytes.readableBytesView)
}

func makeRecorded(
    position: Int64, id: String, postingID: String, version: Int64, typeName: String, occurredUs: Int64, recordedUs: Int64,
    expectedVersion: Int64?, actor: String?, dataBytes: [UInt8], prev: [UInt8], hash: [UInt8]
) throws(UnreadableEvent) -> RecordedEvent {
    guard let type = EventType(rawValue: typeName) else {
        throw UnreadableEvent(position: position, reason: "unknown type \(typeName)")
    }
    let data: EventData
    do {
        data = try EventData(type: type, json: try JSONParser.parse(dataBytes))
    } catch let error as LedgerError {
        throw UnreadableEvent(position: position, reason: "data: \(error.message)")
    } catch {
        throw UnreadableEvent(position: position, reason: "data: \(error)")
    }
    let event = Event(
        id: id, postingID: postingID, occurredAt: Timestamp(microseconds: occurredUs), expectedVersion: expectedVersion,
        actor: actor, data: data)
    return RecordedEvent(
        event: event, position: position, version: version, recordedAt: Timestamp(microseconds: recordedUs), prevHash: prev,
        hash: hash)
}

/// A row's cells decoded one by one, in column order (the hot loops: rebuilds, feeds, open
/// balances). `PostgresRow.decode` of a tuple runs PostgresNIO's generic pack code for every column
/// of every row; this is specialised for each column's type.
public struct Cells {
    private var iterator: PostgresRow.Iterator

    public init(_ row: PostgresRow) { iterator = row.makeIterator() }

    public mutating func next<T: PostgresDecodable>(_: T.Type = T.self) throws -> T { try cell().decode(T.self) }

    /// The next cell as it is.
    public mutating func cell() throws -> PostgresCell {
        guard let cell = iterator.next() else { throw MissingColumn() }
        return cell
    }

    struct MissingColumn: Error, CustomStringConvertible {
        var description: String { "a row has fewer columns than its reader expects" }
    }
}
