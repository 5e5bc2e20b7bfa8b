/// Reads one JSON object field by field, naming each problem by its dotted path, and refuses
/// fields nobody asked for.
struct ObjectReader {
    let members: [String: JSON]
    let path: String
    /// The keys read so far that the object has (a handful: a list beats hashing into a set, and
    /// this runs for every event a rebuild reads).
    private var seen: [String] = []

    init(_ value: JSON, path: String) throws(LedgerError) {
        guard case .object(let members) = value else {
            throw LedgerError(.invalidField, "\(path.isEmpty ? "the event" : path) must be an object, got \(value.typeName)", field: path.isEmpty ? nil : path)
        }
        self.members = members
        self.path = path
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private mutating func value(_ key: String, required: Bool) throws(LedgerError) -> JSON? {
        let found = members[key]
        if found != nil, !seen.contains(key) { seen.append(key) }
        guard let v = found, v != .null else {
            if required { throw LedgerError(.invalidField, "\(name(key)) is required", field: name(key)) }
            return nil
        }
        return v
    }

    mutating func string(_ key: String, required: Bool = true) throws(LedgerError) -> String? {
        guard let v = try value(key, required: required) else { return nil }
        guard case .string(let s) = v else {
            throw LedgerError(.invalidField, "\(name(key)) must be a string, got \(v.typeName)", field: name(key))
        }
        if s.utf8.contains(0) {
            throw LedgerError(.invalidField, "\(name(key)) must not contain NUL characters", field: name(key))
        }
        return s
    }

    mutating func identifier(_ key: String) throws(LedgerError) -> String {
        let s = try string(key)!
        guard Identifier.isValid(s) else {
            throw LedgerError(
                .invalidField,
                "\(name(key)) must be 1–128 characters of letters, digits and . _ : -, starting with a letter or digit",
                field: name(key))
        }
        return s
    }

    /// A text of `min`…`max` characters and at most `max × Event.maxBytesPerCharacter` bytes of
    /// UTF-8: a character may hold any number of combining marks, so a limit in characters alone
    /// let one "character" of a title carry a megabyte into the log for good. The bytes are
    /// checked first, so an oversized text is refused before its characters are counted.
    mutating func text(_ key: String, min: Int = 1, max: Int = 2000, required: Bool = false) throws(LedgerError) -> String? {
        guard let s = try string(key, required: required) else { return nil }
        let bytes = s.utf8.count
        guard bytes <= max * Event.maxBytesPerCharacter else {
            throw LedgerError(
                .invalidField, "\(name(key)) must be at most \(max * Event.maxBytesPerCharacter) bytes of UTF-8, got \(bytes)", field: name(key))
        }
        let count = s.count
        guard count >= min, count <= max else {
            throw LedgerError(.invalidField, "\(name(key)) must be \(min)–\(max) characters, got \(count)", field: name(key))
        }
        return s
    }

    mutating func int(_ key: String, _ range: ClosedRange<Int64>, required: Bool = true) throws(LedgerError) -> Int64? {
        guard let v = try value(key, required: required) else { return nil }
        guard case .int(let i) = v else {
            throw LedgerError(.invalidField, "\(name(key)) must be an integer, got \(v.typeName)", field: name(key))
        }
        guard range.contains(i) else {
            throw LedgerError(
                .invalidField, "\(name(key)) must be between \(range.lowerBound) and \(range.upperBound), got \(i)",
                field: name(key))
        }
        return i
    }

    mutating func bool(_ key: String) throws(LedgerError) -> Bool {
        let v = try value(key, required: true)!
        guard case .bool(let b) = v else {
            throw LedgerError(.invalidField, "\(name(key)) must be true or false, got \(v.typeName)", field: name(key))
        }
        return b
    }

    mutating func currency(_ key: String) throws(LedgerError) -> String {
        let s = try string(key)!
        guard Currency.isValid(s) else {
            throw LedgerError(.invalidField, "\(name(key)) must be an ISO 4217 currency code such as USD, got \"\(s)\"", field: name(key))
        }
        return s
    }

    mutating func object(_ key: String) throws(LedgerError) -> ObjectReader {
        let v = try value(key, required: true)!
        return try ObjectReader(v, path: name(key))
    }

    /// Rejects any member that was not read.
    func finish() throws(LedgerError) {
        guard seen.count != members.count else { return }
        let unknown = members.keys.filter { !seen.contains($0) }.sorted()
        if let first = unknown.first {
            throw LedgerError(.invalidField, "unknown field \(name(first))", field: name(first))
        }
    }
}

extension Event {
    public static let maxAmountMinor: Int64 = 1_000_000_000
    /// A text field's limit in bytes is its limit in characters times this: a character of one
    /// Unicode scalar is at most 4 bytes of UTF-8, so a text of such characters within its
    /// character limit always fits.
    public static let maxBytesPerCharacter = 4
    /// The most bytes one event's canonical JSON can take. Not checked per event: the limits of
    /// its fields (a fixed set; unknown fields are refused) guarantee it, and a test builds the
    /// largest event of every type against it. Batches of events in memory (feed pages, folds,
    /// exports) are bounded by their event counts times this.
    public static let maxBytes = 32_768

    /// Validates and normalises one envelope. Errors are `invalid_field` with the dotted path.
    public init(json: JSON) throws(LedgerError) {
        var r = try ObjectReader(json, path: "")
        let rawID = try r.string("id")!
        guard let id = Identifier.canonicalUUID(rawID) else {
            throw LedgerError(.invalidField, "id must be a UUID such as 0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c11", field: "id")
        }
        let typeName = try r.string("type")!
        guard let type = EventType(rawValue: typeName) else {
            let known = EventType.allCases.map(\.rawValue).joined(separator: ", ")
            throw LedgerError(.invalidField, "type \"\(typeName)\" is not one of: \(known)", field: "type", eventID: id)
        }
        do throws(LedgerError) {
            let postingID = try r.identifier("posting_id")
            let occurredText = try r.string("occurred_at")!
            guard let occurredAt = Timestamp(rfc3339: occurredText) else {
                throw LedgerError(
                    .invalidField, "occurred_at must be an RFC 3339 time with a zone, e.g. 2026-03-02T17:30:00Z",
                    field: "occurred_at")
            }
            let expectedVersion = try r.int("expected_version", 0...Int64(Int32.max), required: false)
            let actor = try r.text("actor", max: 200)
            let data = try EventData(type: type, reader: try r.object("data"))
            try r.finish()
            self.init(
                id: id, postingID: postingID, occurredAt: occurredAt, expectedVersion: expectedVersion, actor: actor,
                data: data)
        } catch {
            throw error.at(index: nil, id: id)
        }
    }

    /// Parses and validates one envelope from bytes.
    public init(bytes: [UInt8]) throws(LedgerError) {
        let json: JSON
        do { json = try JSONParser.parse(bytes) } catch { throw error.ledgerError(batch: false) }
        try self.init(json: json)
    }
}

extension EventData {
    init(type: EventType, reader: ObjectReader) throws(LedgerError) {
        var r = reader
        let amountRange: ClosedRange<Int64> = 1...Event.maxAmountMinor
        switch type {
        case .posted:
            let companyID = try r.identifier("company_id")
            let title = try r.text("title", min: 1, max: 200, required: true)!
            let openings = try r.int("openings", 1...1000)!
            var s = try r.object("stipend")
            let kind = try s.string("kind")!
            let stipend: Stipend
            switch kind {
            case "fixed":
                let amount = try s.int("amount_minor", amountRange)!
                stipend = .fixed(amountMinor: amount, currency: try s.currency("currency"))
            case "hourly":
                let rate = try s.int("rate_minor", amountRange)!
                let maxHours = try s.int("max_hours", 1...2000)!
                stipend = .hourly(rateMinor: rate, maxHours: maxHours, currency: try s.currency("currency"))
            default:
                throw LedgerError(.invalidField, "data.stipend.kind must be \"fixed\" or \"hourly\"", field: "data.stipend.kind")
            }
            try s.finish()
            self = .posted(companyID: companyID, title: title, openings: openings, stipend: stipend)
        case .applied:
            self = .applied(studentID: try r.identifier("student_id"), universityID: try r.identifier("university_id"))
        case .selected:
            self = .selected(studentID: try r.identifier("student_id"))
        case .hoursLogged:
            let student = try r.identifier("student_id")
            let minutes = try r.int("minutes", -1440...1440)!
            guard minutes != 0 else {
                throw LedgerError(.invalidField, "data.minutes must not be 0", field: "data.minutes")
            }
            let dateText = try r.string("work_date")!
            guard let workDate = CivilDate(iso: dateText) else {
                throw LedgerError(.invalidField, "data.work_date must be a date YYYY-MM-DD", field: "data.work_date")
            }
            let note = try r.text("note")
            let reason = try r.text("reason")
            if minutes < 0, reason == nil {
                throw LedgerError(
                    .invalidField, "data.reason is required when data.minutes is negative (a correction)",
                    field: "data.reason")
            }
            self = .hoursLogged(studentID: student, minutes: minutes, workDate: workDate, note: note, reason: reason)
        case .delivered:
            self = .delivered(studentID: try r.identifier("student_id"), summary: try r.text("summary"), url: try r.text("url"))
        case .reviewed:
            let student = try r.identifier("student_id")
            let accepted = try r.bool("accepted")
            let rating = try r.int("rating", 1...5)!
            self = .reviewed(studentID: student, accepted: accepted, rating: rating, comment: try r.text("comment"))
        case .paid:
            let student = try r.identifier("student_id")
            let amount = try r.int("amount_minor", amountRange)!
            let currency = try r.currency("currency")
            let ref = try r.identifier("payment_ref")
            self = .paid(studentID: student, amountMinor: amount, currency: currency, paymentRef: ref, method: try r.text("method"))
        case .paymentReversed:
            let student = try r.identifier("student_id")
            let ref = try r.identifier("payment_ref")
            self = .paymentReversed(studentID: student, paymentRef: ref, reason: try r.text("reason", required: true)!)
        case .withdrawn:
            self = .withdrawn(studentID: try r.identifier("student_id"), reason: try r.text("reason"))
        case .closed:
            self = .closed(reason: try r.text("reason"))
        }
        try r.finish()
    }
}

extension EventData {
    /// Reads the `data` of a stored event of a known type, with the same validation as on append.
    public init(type: EventType, json: JSON) throws(LedgerError) {
        try self.init(type: type, reader: try ObjectReader(json, path: "data"))
    }
}

extension JSONSyntaxError {
    /// The contract's error for a body that does not parse: `invalid_json`, or `invalid_field` with
    /// the field's path for a float or an integer that does not fit. In a batch (an array body) the
    /// leading `[i]` of the path becomes the event index.
    public func ledgerError(batch: Bool) -> LedgerError {
        guard isValueError else { return LedgerError(.invalidJSON, "the body is not valid JSON: \(description)") }
        var field = path
        var index: Int?
        if batch, field.hasPrefix("["), let close = field.firstIndex(of: "]") {
            index = Int(field[field.index(after: field.startIndex)..<close])
            field = String(field[field.index(after: close)...])
            if field.hasPrefix(".") { field.removeFirst() }
        } else if !batch {
            index = 0
        }
        let what = isFloat ? "must be an integer (amounts are integer minor units, time is integer minutes)" : "is out of range"
        return LedgerError(.invalidField, "\(field.isEmpty ? "a value" : field) \(what)", field: field.isEmpty ? nil : field, eventIndex: index)
    }
}
