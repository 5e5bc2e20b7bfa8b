public import LedgerCore
import PostgresNIO

/// The columns every event read selects, in the order `decodeRecorded` expects. Times come out as
/// integer microseconds and hashes as hex, so nothing is rounded or re-encoded on the way.
let eventColumns = """
    position, id::text, posting_id, version, type,
    (extract(epoch FROM occurred_at) * 1000000)::int8, (extract(epoch FROM recorded_at) * 1000000)::int8,
    expected_version, actor, data::text, encode(prev_hash, 'hex'), encode(hash, 'hex')
    """

/// An event row that could not be understood (only tampering or a bug produces one).
public struct UnreadableEvent: Error, CustomStringConvertible, Sendable {
    public var position: Int64
    public var reason: String
    public var description: String { "event at position \(position) cannot be read: \(reason)" }
}

typealias EventRow = (Int64, String, String, Int64, String, Int64, Int64, Int64?, String?, String, String, String)

func decodeRecorded(_ row: PostgresRow) throws -> RecordedEvent {
    let (position, id, postingID, version, typeName, occurredUs, recordedUs, expectedVersion, actor, dataText, prevHex, hashHex) =
        try row.decode(EventRow.self)
    return try makeRecorded(
        position: position, id: id, postingID: postingID, version: version, typeName: typeName, occurredUs: occurredUs,
        recordedUs: recordedUs, expectedVersion: expectedVersion, actor: actor, dataText: dataText, prevHex: prevHex,
        hashHex: hashHex)
}

func makeRecorded(
    position: Int64, id: String, postingID: String, version: Int64, typeName: String, occurredUs: Int64, recordedUs: Int64,
    expectedVersion: Int64?, actor: String?, dataText: String, prevHex: String, hashHex: String
) throws(UnreadableEvent) -> RecordedEvent {
    guard let type = EventType(rawValue: typeName) else {
        throw UnreadableEvent(position: position, reason: "unknown type \(typeName)")
    }
    let data: EventData
    do {
        data = try EventData(type: type, json: try JSONParser.parse(dataText))
    } catch let error as LedgerError {
        throw UnreadableEvent(position: position, reason: "data: \(error.message)")
    } catch {
        throw UnreadableEvent(position: position, reason: "data: \(error)")
    }
    guard let prev = Hex.decode(prevHex), let hash = Hex.decode(hashHex) else {
        throw UnreadableEvent(position: position, reason: "hash is not hex")
    }
    let event = Event(
        id: id, postingID: postingID, occurredAt: Timestamp(microseconds: occurredUs), expectedVersion: expectedVersion,
        actor: actor, data: data)
    return RecordedEvent(
        event: event, position: position, version: version, recordedAt: Timestamp(microseconds: recordedUs), prevHash: prev,
        hash: hash)
}
