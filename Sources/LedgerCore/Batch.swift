/// Limits of one append request.
public enum BatchLimits {
    public static let maxEvents = 1000
    public static let maxBytes = 1 << 20
}

/// One event of a batch after the rules accepted it, with the stream version it gets.
public struct DecidedEvent: Sendable, Hashable {
    public var event: Event
    public var version: Int64
}

public enum BatchDecision {
    /// Checks events in order, each against the state left by the ones before it (a batch may post a
    /// posting and apply to it). Stops at the first broken rule: returns the accepted prefix and the
    /// error (with `event_index` and `event_id`), and leaves `states` as of the prefix.
    public static func decide(
        _ events: [Event], states: inout [String: PostingState], context: inout DecisionContext,
        indexOffset: Int = 0
    ) -> (accepted: [DecidedEvent], error: LedgerError?) {
        var accepted: [DecidedEvent] = []
        accepted.reserveCapacity(events.count)
        for (i, event) in events.enumerated() {
            let state = states[event.postingID] ?? PostingState(postingID: event.postingID)
            do {
                let next = try state.deciding(event, context: &context)
                states[event.postingID] = next
                accepted.append(DecidedEvent(event: event, version: next.version))
            } catch {
                return (accepted, error.at(index: indexOffset + i, id: event.id))
            }
        }
        return (accepted, nil)
    }

    /// Parses a request body: one envelope object or an array of them (at most `BatchLimits.maxEvents`).
    public static func parseBody(_ bytes: [UInt8]) throws(LedgerError) -> [Event] {
        let json: JSON
        do { json = try JSONParser.parse(bytes) } catch {
            throw error.ledgerError(batch: bytes.first(where: { $0 > 0x20 }) == UInt8(ascii: "["))
        }
        switch json {
        case .object:
            return [try Event.parse(json, index: 0)]
        case .array(let elements):
            guard !elements.isEmpty else { throw LedgerError(.invalidField, "the batch is empty: send at least one event") }
            guard elements.count <= BatchLimits.maxEvents else {
                throw LedgerError(.payloadTooLarge, "a batch holds at most \(BatchLimits.maxEvents) events, got \(elements.count)")
            }
            var events: [Event] = []
            events.reserveCapacity(elements.count)
            var ids: [String: Int] = [:]
            for (i, element) in elements.enumerated() {
                let event = try Event.parse(element, index: i)
                if let first = ids.updateValue(i, forKey: event.id) {
                    throw LedgerError(
                        .invalidField, "event id \(event.id) appears twice in the batch (indexes \(first) and \(i))",
                        field: "id", eventIndex: i, eventID: event.id)
                }
                events.append(event)
            }
            return events
        default:
            throw LedgerError(.invalidJSON, "the body must be an event object or an array of events, got \(json.typeName)")
        }
    }
}

extension Event {
    /// `Event(json:)` with the batch index attached to its error.
    public static func parse(_ json: JSON, index: Int) throws(LedgerError) -> Event {
        do { return try Event(json: json) } catch { throw error.at(index: index, id: error.eventID) }
    }
}
