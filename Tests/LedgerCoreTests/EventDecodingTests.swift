@testable import LedgerCore
import Testing

/// Valid envelopes, one per type (plus an hourly `posted`), as JSON values that tests then break.
enum Envelope {
    static let id = "0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c11"
    static let occurredAt = "2026-03-02T17:30:00Z"

    static let names = EventType.allCases.map(\.rawValue) + ["posted_hourly"]

    static func data(_ name: String) -> JSON {
        switch name {
        case "posted":
            .object([
                "company_id": .string("c-1"), "title": .string("Landing page"), "openings": .int(2),
                "stipend": .object(["kind": .string("fixed"), "amount_minor": .int(50_000), "currency": .string("USD")]),
            ])
        case "posted_hourly":
            .object([
                "company_id": .string("c-1"), "title": .string("Landing page"), "openings": .int(2),
                "stipend": .object([
                    "kind": .string("hourly"), "rate_minor": .int(2_500), "max_hours": .int(40), "currency": .string("EUR"),
                ]),
            ])
        case "applied": .object(["student_id": .string("s-77"), "university_id": .string("u-1")])
        case "selected": .object(["student_id": .string("s-77")])
        case "hours_logged":
            .object(["student_id": .string("s-77"), "minutes": .int(90), "work_date": .string("2026-03-02")])
        case "delivered": .object(["student_id": .string("s-77")])
        case "reviewed": .object(["student_id": .string("s-77"), "accepted": .bool(true), "rating": .int(5)])
        case "paid":
            .object([
                "student_id": .string("s-77"), "amount_minor": .int(25_000), "currency": .string("USD"),
                "payment_ref": .string("ch_881"),
            ])
        case "payment_reversed":
            .object(["student_id": .string("s-77"), "payment_ref": .string("ch_881"), "reason": .string("card declined")])
        case "withdrawn": .object(["student_id": .string("s-77")])
        case "closed": .object([:])
        default: fatalError("no fixture \(name)")
        }
    }

    static func make(_ name: String) -> JSON {
        .object([
            "id": .string(id), "type": .string(name == "posted_hourly" ? "posted" : name), "posting_id": .string("p-1042"),
            "occurred_at": .string(occurredAt), "data": data(name),
        ])
    }

    /// What each fixture must decode to.
    static func expected(_ name: String) -> EventData {
        let date = CivilDate(year: 2026, month: 3, day: 2)!
        return switch name {
        case "posted":
            .posted(companyID: "c-1", title: "Landing page", openings: 2, stipend: .fixed(amountMinor: 50_000, currency: "USD"))
        case "posted_hourly":
            .posted(
                companyID: "c-1", title: "Landing page", openings: 2,
                stipend: .hourly(rateMinor: 2_500, maxHours: 40, currency: "EUR"))
        case "applied": .applied(studentID: "s-77", universityID: "u-1")
        case "selected": .selected(studentID: "s-77")
        case "hours_logged": .hoursLogged(studentID: "s-77", minutes: 90, workDate: date, note: nil, reason: nil)
        case "delivered": .delivered(studentID: "s-77", summary: nil, url: nil)
        case "reviewed": .reviewed(studentID: "s-77", accepted: true, rating: 5, comment: nil)
        case "paid": .paid(studentID: "s-77", amountMinor: 25_000, currency: "USD", paymentRef: "ch_881", method: nil)
        case "payment_reversed": .paymentReversed(studentID: "s-77", paymentRef: "ch_881", reason: "card declined")
        case "withdrawn": .withdrawn(studentID: "s-77", reason: nil)
        case "closed": .closed(reason: nil)
        default: fatalError("no fixture \(name)")
        }
    }
}

private func decodeError(_ json: JSON) -> LedgerError? {
    caught { () throws(LedgerError) in try Event(json: json) }
}

private func bodyError(_ bytes: [UInt8]) -> LedgerError? {
    caught { () throws(LedgerError) in try BatchDecision.parseBody(bytes) }
}

private func bodyError(_ text: String) -> LedgerError? { bodyError(Array(text.utf8)) }

@Suite("Event decoding")
struct EventDecodingTests {
    // MARK: Valid envelopes

    @Test(arguments: Envelope.names)
    func validFixtureDecodes(_ name: String) throws {
        let event = try Event(json: Envelope.make(name))
        #expect(event.id == Envelope.id)
        #expect(event.postingID == "p-1042")
        #expect(event.occurredAt == Timestamp(rfc3339: Envelope.occurredAt))
        #expect(event.expectedVersion == nil)
        #expect(event.actor == nil)
        #expect(event.data == Envelope.expected(name))
        #expect(event.type.rawValue == (name == "posted_hourly" ? "posted" : name))
    }

    @Test(arguments: Envelope.names)
    func envelopeJSONRoundTrips(_ name: String) throws {
        let event = try Event(json: Envelope.make(name))
        #expect(event.json == Envelope.make(name), "the normalised envelope of a normalised input is the input")
        #expect(try Event(json: event.json) == event)
        #expect(try Event(bytes: event.contentFingerprint) == event)
    }

    @Test func textLimitsCountBytesAsWellAsCharacters() throws {
        // One letter and 500,000 combining accents: one character, a megabyte of UTF-8.
        let heavy = "a" + String(repeating: "\u{0301}", count: 500_000)
        #expect(heavy.count == 1)
        let error = decodeError(Envelope.make("posted").setting("data.title", to: .string(heavy)))
        #expect(error?.code == .invalidField && error?.field == "data.title")
        #expect(error?.message.contains("at most 800 bytes of UTF-8") == true, "\(error?.message ?? "accepted")")
        // 2,000 characters of 4-byte emoji are 8,000 bytes: within both limits of an optional text.
        let emoji = String(repeating: "\u{1F600}", count: 2000)
        #expect(try Event(json: Envelope.make("closed").setting("data.reason", to: .string(emoji))).data == .closed(reason: emoji))
        // One combining mark more is still 2,000 characters, but 8,002 bytes.
        let over = decodeError(Envelope.make("closed").setting("data.reason", to: .string(emoji + "\u{0301}")))
        #expect(over?.field == "data.reason" && over?.message.contains("bytes") == true)
        // The actor (200 characters): 800 bytes.
        var actor = Envelope.make("closed")
        actor = actor.setting("actor", to: .string("a" + String(repeating: "\u{0301}", count: 400)))
        #expect(decodeError(actor)?.field == "actor")
    }

    @Test(arguments: Envelope.names)
    func theLargestEventOfEachTypeFitsTheEventCap(_ name: String) throws {
        // Every field at its limit: identifiers of 128 characters, texts of 4-byte characters.
        let id = "p" + String(repeating: "x", count: 127)
        let text = String(repeating: "\u{1F600}", count: 2000)
        var json = Envelope.make(name).setting("posting_id", to: .string(id))
            .setting("actor", to: .string(String(repeating: "\u{1F600}", count: 200)))
        let texts = ["note", "reason", "summary", "url", "comment", "method"]
        let ids = ["student_id", "university_id", "company_id", "payment_ref"]
        guard case .object(let data) = Envelope.data(name) else { Issue.record("\(name) has no data object"); return }
        for key in ids where data[key] != nil { json = json.setting("data.\(key)", to: .string(id)) }
        if data["title"] != nil { json = json.setting("data.title", to: .string(String(repeating: "\u{1F600}", count: 200))) }
        var largest = try Event(json: json)
        for key in texts {
            let candidate = json.setting("data.\(key)", to: .string(text))
            if let event = try? Event(json: candidate) {
                json = candidate
                largest = event
            }
        }
        if name == "hours_logged" { #expect(largest.json.canonicalBytes.count > 16_000, "note and reason both at their limit") }
        #expect(largest.json.canonicalBytes.count <= Event.maxBytes)
    }

    @Test func specExampleDecodes() throws {
        let text = #"""
            {
              "id": "0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c11",
              "type": "hours_logged",
              "posting_id": "p-1042",
              "occurred_at": "2026-03-02T17:30:00Z",
              "expected_version": 4,
              "actor": "student:s-77",
              "data": { "student_id": "s-77", "minutes": 90, "work_date": "2026-03-02" }
            }
            """#
        let event = try Event(bytes: Array(text.utf8))
        #expect(event.expectedVersion == 4)
        #expect(event.actor == "student:s-77")
        #expect(event.type == .hoursLogged)
        #expect(event.data.studentID == "s-77")
    }

    @Test func optionalFieldsAreRead() throws {
        func decode(_ name: String, _ extra: [String: JSON]) throws -> EventData {
            var json = Envelope.make(name)
            for (k, v) in extra { json = json.setting("data.\(k)", to: v) }
            return try Event(json: json).data
        }
        let date = CivilDate(year: 2026, month: 3, day: 2)!
        #expect(
            try decode("hours_logged", ["minutes": .int(-30), "note": .string("n"), "reason": .string("typo")])
                == .hoursLogged(studentID: "s-77", minutes: -30, workDate: date, note: "n", reason: "typo"))
        #expect(
            try decode("delivered", ["summary": .string("v1"), "url": .string("https://example.org/x")])
                == .delivered(studentID: "s-77", summary: "v1", url: "https://example.org/x"))
        #expect(
            try decode("reviewed", ["accepted": .bool(false), "rating": .int(1), "comment": .string("redo")])
                == .reviewed(studentID: "s-77", accepted: false, rating: 1, comment: "redo"))
        #expect(
            try decode("paid", ["method": .string("card")])
                == .paid(studentID: "s-77", amountMinor: 25_000, currency: "USD", paymentRef: "ch_881", method: "card"))
        #expect(try decode("withdrawn", ["reason": .string("moved")]) == .withdrawn(studentID: "s-77", reason: "moved"))
        #expect(try decode("closed", ["reason": .string("filled")]) == .closed(reason: "filled"))
        let envelope = Envelope.make("closed").setting("expected_version", to: .int(7)).setting("actor", to: .string("company:c-1"))
        let event = try Event(json: envelope)
        #expect(event.expectedVersion == 7)
        #expect(event.actor == "company:c-1")
    }

    // MARK: Required fields

    static let requiredFields: [(String, String)] = [
        ("posted", "id"), ("posted", "type"), ("posted", "posting_id"), ("posted", "occurred_at"), ("posted", "data"),
        ("closed", "data"),
        ("posted", "data.company_id"), ("posted", "data.title"), ("posted", "data.openings"), ("posted", "data.stipend"),
        ("posted", "data.stipend.kind"), ("posted", "data.stipend.amount_minor"), ("posted", "data.stipend.currency"),
        ("posted_hourly", "data.stipend.rate_minor"), ("posted_hourly", "data.stipend.max_hours"),
        ("posted_hourly", "data.stipend.currency"),
        ("applied", "data.student_id"), ("applied", "data.university_id"),
        ("selected", "data.student_id"),
        ("hours_logged", "data.student_id"), ("hours_logged", "data.minutes"), ("hours_logged", "data.work_date"),
        ("delivered", "data.student_id"),
        ("reviewed", "data.student_id"), ("reviewed", "data.accepted"), ("reviewed", "data.rating"),
        ("paid", "data.student_id"), ("paid", "data.amount_minor"), ("paid", "data.currency"), ("paid", "data.payment_ref"),
        ("payment_reversed", "data.student_id"), ("payment_reversed", "data.payment_ref"), ("payment_reversed", "data.reason"),
        ("withdrawn", "data.student_id"),
    ]

    @Test(arguments: requiredFields)
    func missingRequiredFieldIsNamed(_ name: String, path: String) throws {
        let error = try #require(decodeError(Envelope.make(name).removing(path)))
        #expect(error.code == .invalidField)
        #expect(error.field == path)
        #expect(error.message.contains(path))
    }

    @Test(arguments: requiredFields)
    func nullRequiredFieldIsMissing(_ name: String, path: String) throws {
        let error = try #require(decodeError(Envelope.make(name).setting(path, to: .null)))
        #expect(error.code == .invalidField)
        #expect(error.field == path)
    }

    @Test func nonObjectEnvelopeIsRejected() throws {
        for value in [JSON.array([]), .string("x"), .int(1), .null] {
            let error = try #require(decodeError(value))
            #expect(error.code == .invalidField)
        }
    }

    // MARK: Unknown fields

    @Test(arguments: ["position", "version", "hash", "recorded_at", "Id", "extra"])
    func unknownTopLevelFieldIsRejected(_ key: String) throws {
        let error = try #require(decodeError(Envelope.make("applied").setting(key, to: .int(1))))
        #expect(error.code == .invalidField)
        #expect(error.field == key)
        #expect(error.message.contains(key))
    }

    @Test(arguments: Envelope.names)
    func unknownDataFieldIsRejected(_ name: String) throws {
        let error = try #require(decodeError(Envelope.make(name).setting("data.color", to: .string("blue"))))
        #expect(error.code == .invalidField)
        #expect(error.field == "data.color")
    }

    @Test func unknownStipendFieldsAreRejected() throws {
        // Fields of the other kind are unknown too.
        let fixed = try #require(decodeError(Envelope.make("posted").setting("data.stipend.rate_minor", to: .int(100))))
        #expect(fixed.field == "data.stipend.rate_minor")
        let hourly = try #require(decodeError(Envelope.make("posted_hourly").setting("data.stipend.amount_minor", to: .int(1))))
        #expect(hourly.field == "data.stipend.amount_minor")
        let other = try #require(decodeError(Envelope.make("posted").setting("data.stipend.bonus", to: .int(1))))
        #expect(other.field == "data.stipend.bonus")
        #expect(other.code == .invalidField)
    }

    @Test func typeSpecificFieldOfAnotherTypeIsUnknown() throws {
        // `minutes` belongs to hours_logged, not to delivered.
        let error = try #require(decodeError(Envelope.make("delivered").setting("data.minutes", to: .int(30))))
        #expect(error.field == "data.minutes")
    }

    // MARK: Identifiers and UUIDs

    static let badIdentifiers: [String] = [
        "", .repeating("a", 129), "-abc", ".abc", "_abc", ":abc", "a b", " abc", "abc ", "p'; DROP TABLE postings;--",
        "a/b", "a\\b", "a\"b", "é", "a\u{0}b", "a\nb", "a+b", "a@b.c", "a%20b", "ａ",
    ]

    @Test(arguments: badIdentifiers)
    func badPostingIDIsRejected(_ value: String) throws {
        let error = try #require(decodeError(Envelope.make("applied").setting("posting_id", to: .string(value))))
        #expect(error.code == .invalidField)
        #expect(error.field == "posting_id")
        #expect(error.eventID == Envelope.id, "errors after the id name the event")
    }

    @Test(arguments: [
        ("applied", "data.student_id"), ("applied", "data.university_id"), ("posted", "data.company_id"),
        ("paid", "data.payment_ref"), ("payment_reversed", "data.payment_ref"), ("withdrawn", "data.student_id"),
    ])
    func badIdentifiersInDataAreRejected(_ name: String, path: String) throws {
        for value in Self.badIdentifiers {
            let error = decodeError(Envelope.make(name).setting(path, to: .string(value)))
            #expect(error?.code == .invalidField, "\(path) = \(value.debugDescription)")
            #expect(error?.field == path, "\(path) = \(value.debugDescription)")
        }
    }

    @Test(arguments: ["a", "A", "0", "s-77", "A.b_c:d-e", "student:s-77", "9z", String.repeating("x", 128), "a" + String.repeating("-", 127)])
    func goodIdentifiersAreAccepted(_ value: String) throws {
        #expect(Identifier.isValid(value))
        let event = try Event(json: Envelope.make("applied").setting("posting_id", to: .string(value)).setting("data.student_id", to: .string(value)))
        #expect(event.postingID == value)
        #expect(event.data.studentID == value)
    }

    @Test func identifierValidatorMatchesThePattern() {
        for bad in Self.badIdentifiers { #expect(!Identifier.isValid(bad), "\(bad.debugDescription)") }
    }

    @Test(arguments: [
        "", "not-a-uuid", "0b6f2a4e6c1d4b7e9a533f1f7b0a9c11", "0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c1",
        "0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c111", "0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c1g", "{0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c11}",
        "0b6f2a4e6-c1d-4b7e-9a53-3f1f7b0a9c11", "0b6f2a4e-6c1d-4b7e-9a53_3f1f7b0a9c11", " 0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c1",
        "urn:uuid:0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c11",
    ])
    func badUUIDIsRejected(_ value: String) throws {
        let error = try #require(decodeError(Envelope.make("applied").setting("id", to: .string(value))))
        #expect(error.code == .invalidField)
        #expect(error.field == "id")
    }

    @Test func idMustBeAString() throws {
        let error = try #require(decodeError(Envelope.make("applied").setting("id", to: .int(1))))
        #expect(error.field == "id")
    }

    @Test func upperCaseUUIDIsNormalisedToLowerCase() throws {
        let event = try Event(json: Envelope.make("applied").setting("id", to: .string("0B6F2A4E-6C1D-4B7E-9A53-3F1F7B0A9C11")))
        #expect(event.id == Envelope.id)
        let mixed = try Event(json: Envelope.make("applied").setting("id", to: .string("0b6F2a4E-6C1d-4b7E-9A53-3f1F7b0A9c11")))
        #expect(mixed == event)
        #expect(mixed.contentFingerprint == (try Event(json: Envelope.make("applied"))).contentFingerprint)
    }

    // MARK: Type and occurred_at

    @Test(arguments: ["hired", "Posted", "POSTED", "", "hoursLogged", "hours-logged", "paymentReversed"])
    func unknownTypeIsRejected(_ type: String) throws {
        let error = try #require(decodeError(Envelope.make("applied").setting("type", to: .string(type))))
        #expect(error.code == .invalidField)
        #expect(error.field == "type")
        #expect(error.eventID == Envelope.id)
    }

    @Test(arguments: [
        JSON.string("2026-03-02T17:30:00"), .string("yesterday"), .string("2026-02-30T00:00:00Z"), .string(""),
        .string("2026-03-02"), .string("2026-03-02T17:30:00.1234567Z"), .int(1_772_472_600), .bool(true),
    ])
    func badOccurredAtIsRejected(_ value: JSON) throws {
        let error = try #require(decodeError(Envelope.make("applied").setting("occurred_at", to: value)))
        #expect(error.code == .invalidField)
        #expect(error.field == "occurred_at")
    }

    @Test func occurredAtWithOffsetIsNormalisedToUTC() throws {
        let event = try Event(json: Envelope.make("applied").setting("occurred_at", to: .string("2026-03-02T19:30:00+02:00")))
        #expect(event.occurredAt == Timestamp(rfc3339: "2026-03-02T17:30:00Z"))
        #expect(event.json["occurred_at"] == .string("2026-03-02T17:30:00Z"))
        #expect(event.contentFingerprint == (try Event(json: Envelope.make("applied"))).contentFingerprint)
    }

    /// An accepted envelope's normalised JSON (what the ledger stores and exports) must be accepted again.
    @Test(arguments: ["1900-01-01T00:00:00+01:00", "0001-01-01T12:00:00+01:00", "9999-12-31T12:00:00-01:00"])
    func normalisedEnvelopeOfAnAcceptedEventIsAcceptedAgain(_ occurredAt: String) throws {
        let event = try Event(json: Envelope.make("applied").setting("occurred_at", to: .string(occurredAt)))
        let again = caught { () throws(LedgerError) in try Event(json: event.json) }
        #expect(again == nil, "occurred_at \(occurredAt) became \(event.occurredAt.rfc3339)")
    }

    /// A local time whose UTC instant falls before year 1 or after 9999 has no normalised form.
    @Test(arguments: ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"])
    func occurredAtOutsideTheRepresentableYearsIsRejected(_ occurredAt: String) throws {
        let error = try #require(decodeError(Envelope.make("applied").setting("occurred_at", to: .string(occurredAt))))
        #expect(error.code == .invalidField)
        #expect(error.field == "occurred_at")
    }

    // MARK: Ranges and formats

    /// (fixture, path, value, accepted)
    static let fieldValues: [(String, String, JSON, Bool)] = [
        ("posted", "data.title", .string(""), false),
        ("posted", "data.title", .string("x"), true),
        ("posted", "data.title", .string(.repeating("t", 200)), true),
        ("posted", "data.title", .string(.repeating("t", 201)), false),
        ("posted", "data.title", .string(.repeating("é", 200)), true),
        ("posted", "data.title", .int(5), false),
        ("posted", "data.openings", .int(0), false),
        ("posted", "data.openings", .int(1), true),
        ("posted", "data.openings", .int(1000), true),
        ("posted", "data.openings", .int(1001), false),
        ("posted", "data.openings", .int(-1), false),
        ("posted", "data.openings", .string("2"), false),
        ("posted", "data.stipend.amount_minor", .int(0), false),
        ("posted", "data.stipend.amount_minor", .int(1), true),
        ("posted", "data.stipend.amount_minor", .int(1_000_000_000), true),
        ("posted", "data.stipend.amount_minor", .int(1_000_000_001), false),
        ("posted", "data.stipend.amount_minor", .int(-500), false),
        ("posted", "data.stipend.amount_minor", .int(Int64.max), false),
        ("posted", "data.stipend.currency", .string("USX"), false),
        ("posted", "data.stipend.currency", .string("usd"), false),
        ("posted", "data.stipend.currency", .string("US"), false),
        ("posted", "data.stipend.currency", .string("USDD"), false),
        ("posted", "data.stipend.currency", .string(""), false),
        ("posted", "data.stipend.currency", .string("EUR"), true),
        ("posted", "data.stipend.currency", .string("JPY"), true),
        ("posted", "data.stipend.kind", .string("salary"), false),
        ("posted", "data.stipend.kind", .string("Fixed"), false),
        ("posted", "data.stipend", .string("fixed"), false),
        ("posted_hourly", "data.stipend.rate_minor", .int(0), false),
        ("posted_hourly", "data.stipend.rate_minor", .int(1_000_000_000), true),
        ("posted_hourly", "data.stipend.rate_minor", .int(1_000_000_001), false),
        ("posted_hourly", "data.stipend.max_hours", .int(0), false),
        ("posted_hourly", "data.stipend.max_hours", .int(1), true),
        ("posted_hourly", "data.stipend.max_hours", .int(2000), true),
        ("posted_hourly", "data.stipend.max_hours", .int(2001), false),
        ("posted_hourly", "data.stipend.currency", .string("usd"), false),
        ("hours_logged", "data.minutes", .int(0), false),
        ("hours_logged", "data.minutes", .int(1), true),
        ("hours_logged", "data.minutes", .int(1440), true),
        ("hours_logged", "data.minutes", .int(1441), false),
        ("hours_logged", "data.minutes", .int(-1441), false),
        ("hours_logged", "data.minutes", .string("90"), false),
        ("hours_logged", "data.work_date", .string("2026-02-30"), false),
        ("hours_logged", "data.work_date", .string("2026-3-2"), false),
        ("hours_logged", "data.work_date", .string("2026-03-02T00:00:00Z"), false),
        ("hours_logged", "data.work_date", .string("2024-02-29"), true),
        ("hours_logged", "data.work_date", .int(20_260_302), false),
        ("reviewed", "data.rating", .int(0), false),
        ("reviewed", "data.rating", .int(1), true),
        ("reviewed", "data.rating", .int(5), true),
        ("reviewed", "data.rating", .int(6), false),
        ("reviewed", "data.accepted", .string("true"), false),
        ("reviewed", "data.accepted", .int(1), false),
        ("paid", "data.amount_minor", .int(0), false),
        ("paid", "data.amount_minor", .int(1), true),
        ("paid", "data.amount_minor", .int(1_000_000_000), true),
        ("paid", "data.amount_minor", .int(1_000_000_001), false),
        ("paid", "data.amount_minor", .int(-1), false),
        ("paid", "data.currency", .string("USX"), false),
        ("paid", "data.currency", .string("usd"), false),
        ("paid", "data.currency", .string("GBP"), true),
        ("paid", "data.payment_ref", .int(881), false),
        ("applied", "data.student_id", .int(77), false),
        ("applied", "data", .array([]), false),
        ("applied", "data", .string("s-77"), false),
        ("applied", "expected_version", .int(-1), false),
        ("applied", "expected_version", .int(0), true),
        ("applied", "expected_version", .int(4), true),
        ("applied", "expected_version", .string("4"), false),
        ("applied", "actor", .string("student:s-77"), true),
        ("applied", "actor", .string(.repeating("a", 200)), true),
        ("applied", "actor", .int(1), false),
        ("applied", "actor", .string("a\u{0}"), false),
        ("posted", "data.title", .string("a\u{0}b"), false),
        ("payment_reversed", "data.reason", .string(""), false),
    ]

    @Test(arguments: fieldValues)
    func fieldValueIsCheckedAndNamed(_ name: String, path: String, value: JSON, accepted: Bool) throws {
        let error = decodeError(Envelope.make(name).setting(path, to: value))
        if accepted {
            #expect(error == nil, "\(path) = \(value.canonicalString)")
        } else {
            #expect(error?.code == .invalidField, "\(path) = \(value.canonicalString)")
            #expect(error?.field == path, "\(path) = \(value.canonicalString)")
        }
    }

    @Test func decodedValuesAtTheBoundaries() throws {
        let hourly = try Event(json: Envelope.make("posted_hourly")
            .setting("data.stipend.rate_minor", to: .int(1_000_000_000)).setting("data.stipend.max_hours", to: .int(2000)))
        guard case .posted(_, _, _, let stipend) = hourly.data else { Issue.record("not posted"); return }
        #expect(stipend == .hourly(rateMinor: 1_000_000_000, maxHours: 2000, currency: "EUR"))
        #expect(stipend.capMinor == 2_000_000_000_000)
    }

    @Test func negativeMinutesNeedAReason() throws {
        let json = Envelope.make("hours_logged").setting("data.minutes", to: .int(-30))
        let error = try #require(decodeError(json))
        #expect(error.code == .invalidField)
        #expect(error.field == "data.reason")
        let nullReason = try #require(decodeError(json.setting("data.reason", to: .null)))
        #expect(nullReason.field == "data.reason")
        let emptyReason = try #require(decodeError(json.setting("data.reason", to: .string(""))))
        #expect(emptyReason.field == "data.reason")
        let ok = try Event(json: json.setting("data.reason", to: .string("double-counted")))
        guard case .hoursLogged(_, let minutes, _, _, let reason) = ok.data else { Issue.record("not hours"); return }
        #expect(minutes == -30)
        #expect(reason == "double-counted")
        #expect(decodeError(json.setting("data.minutes", to: .int(-1440)).setting("data.reason", to: .string("r"))) == nil)
    }

    static let optionalTexts: [(String, String)] = [
        ("hours_logged", "data.note"), ("hours_logged", "data.reason"), ("delivered", "data.summary"),
        ("delivered", "data.url"), ("reviewed", "data.comment"), ("paid", "data.method"), ("withdrawn", "data.reason"),
        ("closed", "data.reason"), ("payment_reversed", "data.reason"),
    ]

    @Test(arguments: optionalTexts)
    func textFieldsHoldAtMost2000Characters(_ name: String, path: String) throws {
        let base = Envelope.make(name)
        #expect(decodeError(base.setting(path, to: .string(.repeating("x", 2000)))) == nil)
        #expect(decodeError(base.setting(path, to: .string(.repeating("€", 2000)))) == nil, "characters, not bytes")
        let long = try #require(decodeError(base.setting(path, to: .string(.repeating("x", 2001)))))
        #expect(long.code == .invalidField)
        #expect(long.field == path)
    }

    @Test(arguments: optionalTexts)
    func textFieldsRejectNUL(_ name: String, path: String) throws {
        let error = try #require(decodeError(Envelope.make(name).setting(path, to: .string("before\u{0}after"))))
        #expect(error.code == .invalidField)
        #expect(error.field == path)
    }

    @Test(arguments: optionalTexts)
    func textFieldsMustBeStrings(_ name: String, path: String) throws {
        let error = try #require(decodeError(Envelope.make(name).setting(path, to: .int(1))))
        #expect(error.field == path)
    }

    @Test func nullOptionalFieldsAreAbsent() throws {
        let plain = try Event(json: Envelope.make("hours_logged"))
        let nulls = try Event(json: Envelope.make("hours_logged")
            .setting("data.note", to: .null).setting("data.reason", to: .null)
            .setting("expected_version", to: .null).setting("actor", to: .null))
        #expect(nulls == plain)
        #expect(nulls.contentFingerprint == plain.contentFingerprint)
        #expect(nulls.json["actor"] == nil)
        #expect(nulls.json["data"]?["note"] == nil)
        let delivered = try Event(json: Envelope.make("delivered").setting("data.summary", to: .null).setting("data.url", to: .null))
        #expect(delivered.data == .delivered(studentID: "s-77", summary: nil, url: nil))
    }

    // MARK: Bytes

    private func bytes(_ name: String, replacing old: String, with new: String) -> [UInt8] {
        let text = Envelope.make(name).canonicalString
        precondition(text.contains(old))
        return Array(text.replacing(old, with: new, maxReplacements: 1).utf8)
    }

    @Test(arguments: [
        ("hours_logged", #""minutes":90"#, #""minutes":1.5"#), ("hours_logged", #""minutes":90"#, #""minutes":90.0"#),
        ("paid", #""amount_minor":25000"#, #""amount_minor":250.00"#), ("paid", #""amount_minor":25000"#, #""amount_minor":2.5e4"#),
        ("reviewed", #""rating":5"#, #""rating":4.5"#),
    ])
    func floatsInDataAreInvalidFields(_ name: String, old: String, new: String) throws {
        let error = try #require(caught { () throws(LedgerError) in try Event(bytes: bytes(name, replacing: old, with: new)) })
        #expect(error.code == .invalidField)
        let batch = try #require(bodyError(bytes(name, replacing: old, with: new)))
        #expect(batch.code == .invalidField)
    }

    @Test(arguments: ["", "{", "{\"id\":}", "[1,]", "nul", #"{"a":1,"a":2}"#])
    func malformedBytesAreInvalidJSON(_ text: String) throws {
        let error = try #require(caught { () throws(LedgerError) in try Event(bytes: Array(text.utf8)) })
        #expect(error.code == .invalidJSON)
    }

    @Test func invalidUTF8IsInvalidJSON() throws {
        let valid = Envelope.make("closed").setting("data.reason", to: .string("XY")).canonicalBytes
        var broken = valid
        let i = try #require(broken.firstIndex(of: UInt8(ascii: "X")))
        broken[i] = 0xC0
        broken[i + 1] = 0xAF
        let error = try #require(caught { () throws(LedgerError) in try Event(bytes: broken) })
        #expect(error.code == .invalidJSON)
    }

    // MARK: Request bodies

    private func envelope(id: String, name: String = "applied") -> JSON {
        Envelope.make(name).setting("id", to: .string(id))
    }

    private func body(_ values: [JSON]) -> [UInt8] { JSON.array(values).canonicalBytes }

    @Test func bodyWithOneObject() throws {
        let events = try BatchDecision.parseBody(Envelope.make("posted").canonicalBytes)
        #expect(events.count == 1)
        #expect(events.first?.data == Envelope.expected("posted"))
    }

    @Test func bodyWithAnArrayKeepsOrder() throws {
        let events = try BatchDecision.parseBody(body([
            envelope(id: Fixture.uuid(1), name: "posted"), envelope(id: Fixture.uuid(2), name: "applied"),
            envelope(id: Fixture.uuid(3), name: "selected"),
        ]))
        #expect(events.map(\.id) == [Fixture.uuid(1), Fixture.uuid(2), Fixture.uuid(3)])
        #expect(events.map(\.type) == [.posted, .applied, .selected])
    }

    @Test func emptyBatchIsRejected() throws {
        let error = try #require(bodyError("[]"))
        #expect(error.code == .invalidField)
        #expect(error.eventIndex == nil)
    }

    @Test func thousandEventsAreAcceptedAndOneMoreIsTooLarge() throws {
        let thousand = (1...BatchLimits.maxEvents).map { envelope(id: Fixture.uuid($0)) }
        #expect(BatchLimits.maxEvents == 1000)
        #expect(try BatchDecision.parseBody(body(thousand)).count == 1000)
        let error = try #require(bodyError(body(thousand + [envelope(id: Fixture.uuid(1001))])))
        #expect(error.code == .payloadTooLarge)
    }

    @Test func duplicateIDsInOneBatchAreRejected() throws {
        let error = try #require(bodyError(body([
            envelope(id: Fixture.uuid(1)), envelope(id: Fixture.uuid(2)), envelope(id: Fixture.uuid(1)),
        ])))
        #expect(error.code == .invalidField)
        #expect(error.field == "id")
        #expect(error.eventIndex == 2)
        #expect(error.eventID == Fixture.uuid(1))
    }

    @Test func duplicateIDsDifferingOnlyInCaseAreTheSameID() throws {
        let error = try #require(bodyError(body([
            envelope(id: Envelope.id), envelope(id: Envelope.id.uppercased()),
        ])))
        #expect(error.eventIndex == 1)
        #expect(error.eventID == Envelope.id)
    }

    @Test(arguments: ["[{", "{", "", "   ", "[1,]", "{\"a\":1}{}", "\u{FEFF}[]"])
    func unparsableBodyIsInvalidJSON(_ text: String) throws {
        let error = try #require(bodyError(text))
        #expect(error.code == .invalidJSON)
    }

    @Test(arguments: ["42", #""event""#, "null", "true", "-1"])
    func bodyThatIsNeitherObjectNorArrayIsInvalidJSON(_ text: String) throws {
        let error = try #require(bodyError(text))
        #expect(error.code == .invalidJSON)
    }

    @Test func elementErrorsCarryTheirIndex() throws {
        let broken = envelope(id: Fixture.uuid(2)).removing("data.student_id")
        let error = try #require(bodyError(body([envelope(id: Fixture.uuid(1)), broken, envelope(id: Fixture.uuid(3))])))
        #expect(error.code == .invalidField)
        #expect(error.field == "data.student_id")
        #expect(error.eventIndex == 1)
        #expect(error.eventID == Fixture.uuid(2))
    }

    @Test func elementThatIsNotAnObjectCarriesItsIndex() throws {
        let error = try #require(bodyError(body([envelope(id: Fixture.uuid(1)), .int(5)])))
        #expect(error.code == .invalidField)
        #expect(error.eventIndex == 1)
    }

    @Test func elementWithBadIDCarriesItsIndex() throws {
        let error = try #require(bodyError(body([envelope(id: Fixture.uuid(1)), envelope(id: "nope")])))
        #expect(error.field == "id")
        #expect(error.eventIndex == 1)
        #expect(error.eventID == nil, "an invalid id is not echoed as the event's id")
    }
}
