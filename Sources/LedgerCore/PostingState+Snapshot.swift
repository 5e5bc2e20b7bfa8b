/// The stored snapshot of a posting's state (`streams.snapshot`, the projections' `state` tables).
///
/// The text is the JSON that `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes` writes
/// for the `Codable` conformance, so snapshots written before this codec existed still decode, and
/// `JSONDecoder` reads what it writes (a test holds both ways). It exists because Foundation's
/// encoder dominated the profile of projection rebuilds: this writes the bytes directly.
extension PostingState {
    public var snapshotText: String {
        var out: [UInt8] = []
        out.reserveCapacity(256 + students.count * 200)
        writeSnapshot(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public init(snapshot text: String) throws(SnapshotError) {
        let json: JSON
        do { json = try JSONParser.parse(text) } catch { throw SnapshotError("not JSON: \(error)") }
        let root = try SnapshotReader(json, "posting")
        self.init(postingID: try root.string("postingID"))
        version = try root.int("version")
        companyID = try root.string("companyID")
        title = try root.string("title")
        openings = try root.int("openings")
        stipend = try Self.stipend(try root.member("stipend"))
        isOpen = try root.bool("isOpen")
        createdAt = try root.timestamp("createdAt")
        guard case .object(let members) = try root.member("students") else { throw SnapshotError("students is not an object") }
        students.reserveCapacity(members.count)
        for (id, value) in members {
            let s = try SnapshotReader(value, "student")
            var student = StudentState(universityID: try s.string("universityID"), appliedAt: try s.timestamp("appliedAt"))
            student.withdrawn = try s.bool("withdrawn")
            student.withdrawnAt = try s.optionalTimestamp("withdrawnAt")
            student.selectedAt = try s.optionalTimestamp("selectedAt")
            student.minutesLogged = try s.int("minutesLogged")
            student.deliveryPending = try s.bool("deliveryPending")
            student.deliveredAt = try s.optionalTimestamp("deliveredAt")
            student.latestReviewAccepted = try s.optionalBool("latestReviewAccepted")
            student.rating = try s.optionalInt("rating")
            student.reviewedAt = try s.optionalTimestamp("reviewedAt")
            guard case .array(let payments) = try s.member("payments") else { throw SnapshotError("payments is not an array") }
            student.payments = try payments.map { value throws(SnapshotError) in
                let p = try SnapshotReader(value, "payment")
                return Payment(
                    ref: try p.string("ref"), amountMinor: try p.int("amountMinor"), occurredAt: try p.timestamp("occurredAt"),
                    reversed: try p.bool("reversed"))
            }
            student.lastPaidAt = try s.optionalTimestamp("lastPaidAt")
            students[id] = student
        }
    }

    private static func stipend(_ json: JSON) throws(SnapshotError) -> Stipend {
        let root = try SnapshotReader(json, "stipend")
        if let fixed = root.members["fixed"] {
            let f = try SnapshotReader(fixed, "fixed stipend")
            return .fixed(amountMinor: try f.int("amountMinor"), currency: try f.string("currency"))
        }
        let h = try SnapshotReader(try root.member("hourly"), "hourly stipend")
        return .hourly(rateMinor: try h.int("rateMinor"), maxHours: try h.int("maxHours"), currency: try h.string("currency"))
    }

    // Keys in sorted order, optionals left out when nil: what the synthesized Codable writes.
    private func writeSnapshot(into out: inout [UInt8]) {
        var o = SnapshotWriter(out: out)
        o.open()
        o.key("companyID"); o.string(companyID)
        o.key("createdAt"); o.timestamp(createdAt)
        o.key("isOpen"); o.bool(isOpen)
        o.key("openings"); o.int(openings)
        o.key("postingID"); o.string(postingID)
        o.key("stipend"); o.open()
        switch stipend {
        case .fixed(let amount, let currency):
            o.key("fixed"); o.open()
            o.key("amountMinor"); o.int(amount)
            o.key("currency"); o.string(currency)
            o.close()
        case .hourly(let rate, let maxHours, let currency):
            o.key("hourly"); o.open()
            o.key("currency"); o.string(currency)
            o.key("maxHours"); o.int(maxHours)
            o.key("rateMinor"); o.int(rate)
            o.close()
        }
        o.close()
        o.key("students"); o.open()
        for id in students.keys.sorted(by: JSON.utf16Less) {
            let s = students[id]!
            o.key(id); o.open()
            o.key("appliedAt"); o.timestamp(s.appliedAt)
            if let t = s.deliveredAt { o.key("deliveredAt"); o.timestamp(t) }
            o.key("deliveryPending"); o.bool(s.deliveryPending)
            if let t = s.lastPaidAt { o.key("lastPaidAt"); o.timestamp(t) }
            if let b = s.latestReviewAccepted { o.key("latestReviewAccepted"); o.bool(b) }
            o.key("minutesLogged"); o.int(s.minutesLogged)
            o.key("payments"); o.openArray()
            for p in s.payments {
                o.element()
                o.open()
                o.key("amountMinor"); o.int(p.amountMinor)
                o.key("occurredAt"); o.timestamp(p.occurredAt)
                o.key("ref"); o.string(p.ref)
                o.key("reversed"); o.bool(p.reversed)
                o.close()
            }
            o.closeArray()
            if let r = s.rating { o.key("rating"); o.int(r) }
            if let t = s.reviewedAt { o.key("reviewedAt"); o.timestamp(t) }
            if let t = s.selectedAt { o.key("selectedAt"); o.timestamp(t) }
            o.key("universityID"); o.string(s.universityID)
            o.key("withdrawn"); o.bool(s.withdrawn)
            if let t = s.withdrawnAt { o.key("withdrawnAt"); o.timestamp(t) }
            o.close()
        }
        o.close()
        o.key("title"); o.string(title)
        o.key("version"); o.int(version)
        o.close()
        out = o.out
    }
}

public struct SnapshotError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Writes JSON objects member by member, placing the commas.
private struct SnapshotWriter {
    var out: [UInt8]
    private var first = true

    init(out: [UInt8]) { self.out = out }

    mutating func open() {
        out.append(UInt8(ascii: "{"))
        first = true
    }

    mutating func close() {
        out.append(UInt8(ascii: "}"))
        first = false
    }

    mutating func openArray() {
        out.append(UInt8(ascii: "["))
        first = true
    }

    /// Before each element of an array.
    mutating func element() {
        if !first { out.append(UInt8(ascii: ",")) }
    }

    mutating func closeArray() {
        out.append(UInt8(ascii: "]"))
        first = false
    }

    mutating func key(_ name: String) {
        if !first { out.append(UInt8(ascii: ",")) }
        first = true  // until its value is written
        JSON.writeString(name, into: &out)
        out.append(UInt8(ascii: ":"))
    }

    mutating func string(_ s: String) {
        JSON.writeString(s, into: &out)
        first = false
    }

    mutating func int(_ i: Int64) {
        out.append(contentsOf: String(i).utf8)
        first = false
    }

    mutating func bool(_ b: Bool) {
        out.append(contentsOf: (b ? "true" : "false").utf8)
        first = false
    }

    mutating func timestamp(_ t: Timestamp) {
        out.append(contentsOf: "{\"microseconds\":".utf8)
        out.append(contentsOf: String(t.microseconds).utf8)
        out.append(UInt8(ascii: "}"))
        first = false
    }
}

/// Typed access to one object of a snapshot, naming what is missing.
private struct SnapshotReader {
    let members: [String: JSON]
    let what: String

    init(_ json: JSON, _ what: String) throws(SnapshotError) {
        guard case .object(let members) = json else { throw SnapshotError("\(what) is not an object") }
        self.members = members
        self.what = what
    }

    func member(_ key: String) throws(SnapshotError) -> JSON {
        guard let value = members[key] else { throw SnapshotError("\(what) has no \(key)") }
        return value
    }

    func string(_ key: String) throws(SnapshotError) -> String {
        guard case .string(let s) = try member(key) else { throw SnapshotError("\(what).\(key) is not a string") }
        return s
    }

    func int(_ key: String) throws(SnapshotError) -> Int64 {
        guard case .int(let i) = try member(key) else { throw SnapshotError("\(what).\(key) is not an integer") }
        return i
    }

    func bool(_ key: String) throws(SnapshotError) -> Bool {
        guard case .bool(let b) = try member(key) else { throw SnapshotError("\(what).\(key) is not a boolean") }
        return b
    }

    func timestamp(_ key: String) throws(SnapshotError) -> Timestamp {
        Timestamp(microseconds: try SnapshotReader(try member(key), "\(what).\(key)").int("microseconds"))
    }

    func optionalInt(_ key: String) throws(SnapshotError) -> Int64? {
        members[key] == nil || members[key] == .null ? nil : try int(key)
    }

    func optionalBool(_ key: String) throws(SnapshotError) -> Bool? {
        members[key] == nil || members[key] == .null ? nil : try bool(key)
    }

    func optionalTimestamp(_ key: String) throws(SnapshotError) -> Timestamp? {
        members[key] == nil || members[key] == .null ? nil : try timestamp(key)
    }
}
