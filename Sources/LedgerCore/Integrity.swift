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
        let bytes = canonicalForm(event: event, version: version, position: position, recordedAt: recordedAt, prevHash: prevHash)
            .canonicalBytes
        return Array(SHA256.hash(data: bytes))
    }

    public static func verify(_ e: RecordedEvent) -> Bool {
        compute(event: e.event, version: e.version, position: e.position, recordedAt: e.recordedAt, prevHash: e.prevHash)
            == e.hash
    }
}

/// A seal commits to every event up to `uptoPosition` (their positions and hashes, in order) and to
/// the previous seal. Its digest is what an auditor keeps.
public struct Seal: Sendable, Hashable {
    public static let format: Int64 = 1

    public var sequence: Int64
    public var uptoPosition: Int64
    public var eventCount: Int64
    public var eventsDigest: [UInt8]
    public var prevDigest: [UInt8]
    public var digest: [UInt8]

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
