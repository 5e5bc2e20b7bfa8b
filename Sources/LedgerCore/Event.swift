/// The event types of the contract.
public enum EventType: String, Sendable, CaseIterable, Codable {
    case posted, applied, selected
    case hoursLogged = "hours_logged"
    case delivered, reviewed, paid
    case paymentReversed = "payment_reversed"
    case withdrawn, closed
}

/// A posting's stipend, exactly as posted.
public enum Stipend: Sendable, Hashable, Codable {
    case fixed(amountMinor: Int64, currency: String)
    case hourly(rateMinor: Int64, maxHours: Int64, currency: String)

    public var currency: String {
        switch self {
        case .fixed(_, let c), .hourly(_, _, let c): c
        }
    }

    public var kind: String {
        switch self {
        case .fixed: "fixed"
        case .hourly: "hourly"
        }
    }

    /// The most a placement can ever earn (and so be paid).
    public var capMinor: Int64 {
        switch self {
        case .fixed(let amount, _): amount
        case .hourly(let rate, let maxHours, _): rate * maxHours
        }
    }

    public var json: JSON {
        switch self {
        case .fixed(let amount, let currency):
            .object(["kind": .string("fixed"), "amount_minor": .int(amount), "currency": .string(currency)])
        case .hourly(let rate, let maxHours, let currency):
            .object([
                "kind": .string("hourly"), "rate_minor": .int(rate), "max_hours": .int(maxHours),
                "currency": .string(currency),
            ])
        }
    }
}

/// The type-specific fields of an event (`data`).
public enum EventData: Sendable, Hashable {
    case posted(companyID: String, title: String, openings: Int64, stipend: Stipend)
    case applied(studentID: String, universityID: String)
    case selected(studentID: String)
    case hoursLogged(studentID: String, minutes: Int64, workDate: CivilDate, note: String?, reason: String?)
    case delivered(studentID: String, summary: String?, url: String?)
    case reviewed(studentID: String, accepted: Bool, rating: Int64, comment: String?)
    case paid(studentID: String, amountMinor: Int64, currency: String, paymentRef: String, method: String?)
    case paymentReversed(studentID: String, paymentRef: String, reason: String)
    case withdrawn(studentID: String, reason: String?)
    case closed(reason: String?)

    public var type: EventType {
        switch self {
        case .posted: .posted
        case .applied: .applied
        case .selected: .selected
        case .hoursLogged: .hoursLogged
        case .delivered: .delivered
        case .reviewed: .reviewed
        case .paid: .paid
        case .paymentReversed: .paymentReversed
        case .withdrawn: .withdrawn
        case .closed: .closed
        }
    }

    /// The student the event is about, when it is about one.
    public var studentID: String? {
        switch self {
        case .posted, .closed: nil
        case .applied(let s, _), .selected(let s), .hoursLogged(let s, _, _, _, _), .delivered(let s, _, _),
            .reviewed(let s, _, _, _), .paid(let s, _, _, _, _), .paymentReversed(let s, _, _), .withdrawn(let s, _):
            s
        }
    }

    public var json: JSON {
        var m: [String: JSON] = [:]
        func put(_ key: String, _ value: String?) { if let value { m[key] = .string(value) } }
        switch self {
        case .posted(let companyID, let title, let openings, let stipend):
            m = ["company_id": .string(companyID), "title": .string(title), "openings": .int(openings), "stipend": stipend.json]
        case .applied(let s, let u):
            m = ["student_id": .string(s), "university_id": .string(u)]
        case .selected(let s):
            m = ["student_id": .string(s)]
        case .hoursLogged(let s, let minutes, let workDate, let note, let reason):
            m = ["student_id": .string(s), "minutes": .int(minutes), "work_date": .string(workDate.description)]
            put("note", note)
            put("reason", reason)
        case .delivered(let s, let summary, let url):
            m = ["student_id": .string(s)]
            put("summary", summary)
            put("url", url)
        case .reviewed(let s, let accepted, let rating, let comment):
            m = ["student_id": .string(s), "accepted": .bool(accepted), "rating": .int(rating)]
            put("comment", comment)
        case .paid(let s, let amount, let currency, let ref, let method):
            m = [
                "student_id": .string(s), "amount_minor": .int(amount), "currency": .string(currency),
                "payment_ref": .string(ref),
            ]
            put("method", method)
        case .paymentReversed(let s, let ref, let reason):
            m = ["student_id": .string(s), "payment_ref": .string(ref), "reason": .string(reason)]
        case .withdrawn(let s, let reason):
            m = ["student_id": .string(s)]
            put("reason", reason)
        case .closed(let reason):
            put("reason", reason)
        }
        return .object(m)
    }
}

/// An event as a client sends it (the envelope), validated and normalised: the UUID in lower case,
/// `occurred_at` in UTC.
public struct Event: Sendable, Hashable {
    public var id: String
    public var postingID: String
    public var occurredAt: Timestamp
    public var expectedVersion: Int64?
    public var actor: String?
    public var data: EventData

    public init(
        id: String, postingID: String, occurredAt: Timestamp, expectedVersion: Int64? = nil, actor: String? = nil,
        data: EventData
    ) {
        self.id = id
        self.postingID = postingID
        self.occurredAt = occurredAt
        self.expectedVersion = expectedVersion
        self.actor = actor
        self.data = data
    }

    public var type: EventType { data.type }

    /// The envelope's fields as JSON members (what the client sent, normalised).
    public var envelopeMembers: [String: JSON] {
        var m: [String: JSON] = [
            "id": .string(id), "type": .string(type.rawValue), "posting_id": .string(postingID),
            "occurred_at": .string(occurredAt.rfc3339), "data": data.json,
        ]
        if let expectedVersion { m["expected_version"] = .int(expectedVersion) }
        if let actor { m["actor"] = .string(actor) }
        return m
    }

    public var json: JSON { .object(envelopeMembers) }

    /// The idempotency comparison: two sends are "the same content" when these bytes are equal.
    public var contentFingerprint: [UInt8] { json.canonicalBytes }
}

/// An event as the ledger recorded it.
public struct RecordedEvent: Sendable, Hashable {
    public var event: Event
    public var position: Int64
    public var version: Int64
    public var recordedAt: Timestamp
    public var prevHash: [UInt8]
    public var hash: [UInt8]
    /// Which rule `hash` follows: 1 (`EventHash`) or 2 (`PrivateEventHash`).
    public var hashFormat: Int64

    public init(
        event: Event, position: Int64, version: Int64, recordedAt: Timestamp, prevHash: [UInt8], hash: [UInt8], hashFormat: Int64 = 1
    ) {
        self.event = event
        self.position = position
        self.version = version
        self.recordedAt = recordedAt
        self.prevHash = prevHash
        self.hash = hash
        self.hashFormat = hashFormat
    }

    /// The envelope plus the assigned `position`, `version`, `recorded_at` and `hash`.
    public var json: JSON {
        var m = event.envelopeMembers
        m["position"] = .int(position)
        m["version"] = .int(version)
        m["recorded_at"] = .string(recordedAt.rfc3339)
        m["hash"] = .string(Hex.encode(hash))
        return .object(m)
    }

    /// What an append answers for this event.
    public var receiptJSON: JSON {
        .object([
            "id": .string(event.id), "position": .int(position), "version": .int(version),
            "recorded_at": .string(recordedAt.rfc3339), "hash": .string(Hex.encode(hash)),
        ])
    }
}

public enum Hex {

    /// The hashes' form: every append encodes three (profiled: the generic version below, called
    /// across modules unspecialised, took 8 % of an import's CPU).
    public static func encode(_ bytes: [UInt8]) -> String {
        @inline(__always) func digit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 48 + nibble : 87 + nibble }
        return bytes.withUnsafeBufferPointer { bytes in
            String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
                for (i, b) in bytes.enumerated() {
                    buffer[2 * i] = digit(b >> 4)
                    buffer[2 * i + 1] = digit(b & 0x0F)
                }
                return bytes.count * 2
            }
        }
    }

    public static func encode(_ bytes: some Collection<UInt8>) -> String { encode(Array(bytes)) }

    /// `encode`, appended to bytes being written (the hashed forms): no string in between.
    public static func write(_ bytes: [UInt8], into out: inout [UInt8]) {
        @inline(__always) func digit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 48 + nibble : 87 + nibble }
        out.reserveCapacity(out.count + bytes.count * 2)
        for b in bytes {
            out.append(digit(b >> 4))
            out.append(digit(b & 0x0F))
        }
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let b = Array(text.utf8)
        guard b.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(b.count / 2)
        var i = 0
        while i < b.count {
            guard let hi = nibble(b[i]), let lo = nibble(b[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
