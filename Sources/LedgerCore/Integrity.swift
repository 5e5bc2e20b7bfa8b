import Crypto

/// Tamper evidence: each event's hash is SHA-256 over the RFC 8785 form of its envelope, its stream
/// version and the hash of the previous event of its stream. `hash_format` is hashed too, so a future
/// change of the hashed form is an explicit new format rather than a silent break.
///
/// Beyond the contract's minimum (envelope + version) the hashed form also covers `position` and
/// `recorded_at`: an edit to any stored column of an event then breaks its hash, not only its seal.
public enum EventHash {
    public static let format: Int64 = 1

    public static func canonicalForm(
        event: Event, version: Int64, position: Int64, recordedAt: Timestamp, prevHash: [UInt8]
    ) -> JSON {
        var m = event.envelopeMembers
        m["version"] = .int(version)
        m["position"] = .int(position)
        m["recorded_at"] = .string(recordedAt.rfc3339)
        m["prev_hash"] = .string(Hex.encode(prevHash))
        m["hash_format"] = .int(format)
        return .object(m)
    }

    public static func compute(
        event: Event, version: Int64, position: Int64, recordedAt: Timestamp, prevHash: [UInt8]
    ) -> [UInt8] {
        compute(event: event, version: version, position: position, recordedAt: recordedAt, prevHash: prevHash, data: event.data.json.canonicalBytes)
    }

    /// `compute`, given the canonical bytes of the event's data (an append stores the same bytes).
    public static func compute(
        event: Event, version: Int64, position: Int64, recordedAt: Timestamp, prevHash: [UInt8], data: [UInt8]
    ) -> [UInt8] {
        Array(SHA256.hash(data: canonicalBytes(event: event, version: version, position: position, recordedAt: recordedAt, prevHash: prevHash, data: data)))
    }

    /// `canonicalForm(...).canonicalBytes`, written member by member in canonical key order rather
    /// than built as an object and sorted: every append hashes every event (profiled: the object
    /// took a quarter of an import's CPU). The tests check the two agree.
    static func canonicalBytes(
        event: Event, version: Int64, position: Int64, recordedAt: Timestamp, prevHash: [UInt8], data: [UInt8]
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 384)
        // The keys in RFC 8785 order (all ASCII, so byte order): actor, data, expected_version,
        // hash_format, id, occurred_at, position, posting_id, prev_hash, recorded_at, type, version.
        writeEnvelopeHead(event: event, data: data, into: &out)
        out.append(contentsOf: #","hash_format":"#.utf8)
        JSON.writeInteger(format, into: &out)
        out.append(contentsOf: #","id":"#.utf8)
        JSON.writeString(event.id, into: &out)
        out.append(contentsOf: #","occurred_at":"#.utf8)
        JSON.writeString(event.occurredAt.rfc3339, into: &out)
        out.append(contentsOf: #","position":"#.utf8)
        JSON.writeInteger(position, into: &out)
        out.append(contentsOf: #","posting_id":"#.utf8)
        JSON.writeString(event.postingID, into: &out)
        out.append(contentsOf: #","prev_hash":"#.utf8)
        JSON.writeString(Hex.encode(prevHash), into: &out)
        out.append(contentsOf: #","recorded_at":"#.utf8)
        JSON.writeString(recordedAt.rfc3339, into: &out)
        out.append(contentsOf: #","type":"#.utf8)
        JSON.writeString(event.type.rawValue, into: &out)
        out.append(contentsOf: #","version":"#.utf8)
        JSON.writeInteger(version, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `{"actor":…,"data":…,"expected_version":…` (actor and expected_version when present): the
    /// members that sort before every other key of both hashed forms.
    static func writeEnvelopeHead(event: Event, data: [UInt8], into out: inout [UInt8]) {
        if let actor = event.actor {
            out.append(contentsOf: #"{"actor":"#.utf8)
            JSON.writeString(actor, into: &out)
            out.append(contentsOf: #","data":"#.utf8)
        } else {
            out.append(contentsOf: #"{"data":"#.utf8)
        }
        out.append(contentsOf: data)
        if let expected = event.expectedVersion {
            out.append(contentsOf: #","expected_version":"#.utf8)
            JSON.writeInteger(expected, into: &out)
        }
    }

    /// Whether `e.hash` is right for its recorded `hashFormat`; format 2 needs the ledger's proof
    /// key (without it, a format 2 event does not verify).
    public static func verify(_ e: RecordedEvent, key: ProofKey? = nil) -> Bool {
        switch e.hashFormat {
        case 1:
            return compute(event: e.event, version: e.version, position: e.position, recordedAt: e.recordedAt, prevHash: e.prevHash)
                == e.hash
        case 2:
            guard let key else { return false }
            return PrivateEventHash.compute(
                event: e.event, version: e.version, position: e.position, recordedAt: e.recordedAt, prevHash: e.prevHash,
                data: e.event.data.json.canonicalBytes, key: key) == e.hash
        default:
            return false
        }
    }
}

/// A seal commits to every event up to `uptoPosition` (their positions and hashes, in order) and to
/// the previous seal. Its digest is what an auditor keeps.
public struct Seal: Sendable, Hashable {
    public static let format: Int64 = 1

    public var sequence: Int64
    public var uptoPosition: Int64
    /// The events this seal added (after the seal before it).
    public var eventCount: Int64
    /// Format 1: the linear digest of this seal's events. Format 2: the Merkle tree's root.
    public var eventsDigest: [UInt8]
    public var prevDigest: [UInt8]
    public var digest: [UInt8]
    /// Format 2 (signed Merkle seals): the signed object; nil for format 1.
    public var signed: SignedSeal?

    public var formatNumber: Int { signed == nil ? 1 : 2 }

    /// A format 2 seal: `signed` and the number of events it added.
    public init(signed: SignedSeal, eventCount: Int64) {
        sequence = signed.sequence
        uptoPosition = signed.uptoPosition
        self.eventCount = eventCount
        eventsDigest = signed.root
        prevDigest = signed.previous ?? []
        digest = signed.digest
        self.signed = signed
    }

    public init(sequence: Int64, uptoPosition: Int64, eventCount: Int64, eventsDigest: [UInt8], prevDigest: [UInt8]) {
        self.sequence = sequence
        self.uptoPosition = uptoPosition
        self.eventCount = eventCount
        self.eventsDigest = eventsDigest
        self.prevDigest = prevDigest
        self.digest = Seal.digest(
            sequence: sequence, uptoPosition: uptoPosition, eventCount: eventCount, eventsDigest: eventsDigest,
            prevDigest: prevDigest)
    }

    public static func digest(
        sequence: Int64, uptoPosition: Int64, eventCount: Int64, eventsDigest: [UInt8], prevDigest: [UInt8]
    ) -> [UInt8] {
        let form = JSON.object([
            "seal_format": .int(format), "sequence": .int(sequence), "upto_position": .int(uptoPosition),
            "event_count": .int(eventCount), "events_digest": .string(Hex.encode(eventsDigest)),
            "prev_digest": .string(Hex.encode(prevDigest)),
        ])
        return Array(SHA256.hash(data: form.canonicalBytes))
    }
}

/// Folds `(position, hash)` of consecutive events into the digest a seal commits to.
public struct SealAccumulator: Sendable {
    private var hasher = SHA256()
    public private(set) var count: Int64 = 0
    public private(set) var lastPosition: Int64

    public init(after position: Int64) { lastPosition = position }

    public mutating func add(position: Int64, hash: [UInt8]) {
        var be = position.bigEndian
        withUnsafeBytes(of: &be) { hasher.update(bufferPointer: $0) }
        hasher.update(data: hash)
        count += 1
        lastPosition = position
    }

    public func finalize() -> [UInt8] { Array(hasher.finalize()) }
}
