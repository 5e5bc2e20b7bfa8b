@testable import LedgerCore
import Testing

@Suite("Integrity: event hashes and seals")
struct IntegrityTests {
    static let event = Event(
        id: "0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c11", postingID: "p-1042",
        occurredAt: Timestamp(rfc3339: "2026-03-02T17:30:00Z")!, expectedVersion: 4, actor: "student:s-77",
        data: .hoursLogged(studentID: "s-77", minutes: 90, workDate: CivilDate(year: 2026, month: 3, day: 2)!, note: nil, reason: nil))
    static let recordedAt = Timestamp(rfc3339: "2026-03-02T17:30:01.25Z")!
    static let prev = [UInt8](repeating: 0xAB, count: 32)

    private func hash(
        _ event: Event = IntegrityTests.event, version: Int64 = 5, position: Int64 = 1234,
        recordedAt: Timestamp = IntegrityTests.recordedAt, prevHash: [UInt8] = IntegrityTests.prev
    ) -> [UInt8] {
        EventHash.compute(event: event, version: version, position: position, recordedAt: recordedAt, prevHash: prevHash)
    }

    // MARK: Event hash

    /// The hashed form written out by hand from the contract (RFC 8785: sorted keys, no spaces), and
    /// its SHA-256 computed independently (Python's hashlib over that exact text).
    @Test func knownAnswer() {
        let form = EventHash.canonicalForm(
            event: Self.event, version: 5, position: 1234, recordedAt: Self.recordedAt, prevHash: Self.prev)
        let expectedForm =
            #"{"actor":"student:s-77","data":{"minutes":90,"student_id":"s-77","work_date":"2026-03-02"},"expected_version":4,"hash_format":1,"id":"0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c11","occurred_at":"2026-03-02T17:30:00Z","position":1234,"posting_id":"p-1042","prev_hash":""#
            + String(repeating: "ab", count: 32)
            + #"","recorded_at":"2026-03-02T17:30:01.250000Z","type":"hours_logged","version":5}"#
        #expect(form.canonicalString == expectedForm)
        #expect(Hex.encode(hash()) == "d4787ec01b3b34b1ef8077e6eb2021bf356dd5f84c10819781e3ab00154e04f0")
    }

    @Test("the hashed form written member by member equals the canonical form built as an object")
    func handWrittenForm() {
        var events = Array(DemoHistory(postings: 20, seed: 3).prefix(400))
        #expect(Set(events.map(\.type)).count >= 8)
        // With and without an actor and an expected version, and a prev hash of any length.
        events[0].actor = nil
        events[1].expectedVersion = nil
        events[2].actor = "student:s-\"quoted\""
        events[3].expectedVersion = 0
        for (i, event) in events.enumerated() {
            let prev = i == 0 ? [] : [UInt8](repeating: UInt8(i % 256), count: 32)
            let expected = EventHash.canonicalForm(
                event: event, version: Int64(i + 1), position: Int64(1000 + i), recordedAt: Self.recordedAt, prevHash: prev
            ).canonicalString
            let written = EventHash.canonicalBytes(
                event: event, version: Int64(i + 1), position: Int64(1000 + i), recordedAt: Self.recordedAt, prevHash: prev,
                data: event.data.json.canonicalBytes)
            #expect(String(decoding: written, as: UTF8.self) == expected)
        }
        #expect(events.contains { $0.actor == nil } && events.contains { $0.actor != nil })
        #expect(events.contains { $0.expectedVersion == nil } && events.contains { $0.expectedVersion != nil })
        #expect(Hex.encode([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
        #expect(Hex.encode([UInt8]()) == "")
    }

    @Test func deterministic() {
        #expect(hash() == hash())
        #expect(hash().count == 32)
        // The same event rebuilt from its JSON hashes the same.
        let rebuilt = try? Event(json: Self.event.json)
        #expect(rebuilt.map { hash($0) } == hash())
    }

    @Test func everyInputChangesTheHash() {
        var variants: [(String, [UInt8])] = [("original", hash())]
        func with(_ name: String, _ change: (inout Event) -> Void) {
            var e = Self.event
            change(&e)
            variants.append((name, hash(e)))
        }
        with("id") { $0.id = "0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c12" }
        with("posting_id") { $0.postingID = "p-1043" }
        with("occurred_at +1µs") { $0.occurredAt = Timestamp(microseconds: $0.occurredAt.microseconds + 1) }
        with("expected_version") { $0.expectedVersion = 3 }
        with("no expected_version") { $0.expectedVersion = nil }
        with("actor") { $0.actor = "student:s-78" }
        with("no actor") { $0.actor = nil }
        with("minutes") {
            $0.data = .hoursLogged(studentID: "s-77", minutes: 91, workDate: CivilDate(year: 2026, month: 3, day: 2)!, note: nil, reason: nil)
        }
        with("student") {
            $0.data = .hoursLogged(studentID: "s-78", minutes: 90, workDate: CivilDate(year: 2026, month: 3, day: 2)!, note: nil, reason: nil)
        }
        with("work_date") {
            $0.data = .hoursLogged(studentID: "s-77", minutes: 90, workDate: CivilDate(year: 2026, month: 3, day: 3)!, note: nil, reason: nil)
        }
        with("note") {
            $0.data = .hoursLogged(studentID: "s-77", minutes: 90, workDate: CivilDate(year: 2026, month: 3, day: 2)!, note: "", reason: nil)
        }
        with("type") { $0.data = .delivered(studentID: "s-77", summary: nil, url: nil) }
        variants.append(("version", hash(version: 6)))
        variants.append(("position", hash(position: 1235)))
        variants.append(("recorded_at +1µs", hash(recordedAt: Timestamp(microseconds: Self.recordedAt.microseconds + 1))))
        var flipped = Self.prev
        flipped[31] ^= 0x01
        variants.append(("prev_hash bit", hash(prevHash: flipped)))
        variants.append(("prev_hash empty", hash(prevHash: [])))
        variants.append(("prev_hash zeros", hash(prevHash: [UInt8](repeating: 0, count: 32))))
        let distinct = Set(variants.map(\.1))
        #expect(distinct.count == variants.count, "\(variants.count - distinct.count) variants collided")
    }

    private func recorded(_ event: Event = IntegrityTests.event, prevHash: [UInt8] = IntegrityTests.prev) -> RecordedEvent {
        let h = hash(event, prevHash: prevHash)
        return RecordedEvent(event: event, position: 1234, version: 5, recordedAt: Self.recordedAt, prevHash: prevHash, hash: h)
    }

    @Test func verifyAcceptsTheComputedHash() {
        #expect(EventHash.verify(recorded()))
    }

    @Test func verifyDetectsEveryEdit() {
        let good = recorded()
        var edits: [RecordedEvent] = []
        var e = good; e.event.data = .hoursLogged(studentID: "s-77", minutes: 900, workDate: CivilDate(year: 2026, month: 3, day: 2)!, note: nil, reason: nil); edits.append(e)
        e = good; e.event.actor = nil; edits.append(e)
        e = good; e.event.occurredAt = e.event.occurredAt.adding(seconds: -1); edits.append(e)
        e = good; e.version = 4; edits.append(e)
        e = good; e.position = 1; edits.append(e)
        e = good; e.recordedAt = e.recordedAt.adding(seconds: 1); edits.append(e)
        e = good; e.prevHash = [UInt8](repeating: 0, count: 32); edits.append(e)
        e = good; e.hash[0] ^= 0x80; edits.append(e)
        e = good; e.hash = []; edits.append(e)
        for (i, edit) in edits.enumerated() {
            #expect(!EventHash.verify(edit), "edit \(i) went unnoticed")
        }
    }

    @Test func hashesChainWithinAStream() {
        let first = recorded(prevHash: [])
        var second = Self.event
        second.id = "0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c12"
        let chained = recorded(second, prevHash: first.hash)
        #expect(EventHash.verify(chained))
        // Changing the first event changes its hash, so the second no longer links to it.
        var tampered = first.event
        tampered.actor = "student:s-99"
        let retold = hash(tampered, prevHash: [])
        #expect(retold != chained.prevHash)
    }

    @Test func recordedEventJSONCarriesTheAssignedFields() {
        let r = recorded()
        let json = r.json
        #expect(json["hash"] == .string(Hex.encode(r.hash)))
        #expect(json["position"] == .int(1234))
        #expect(json["version"] == .int(5))
        #expect(json["recorded_at"] == .string("2026-03-02T17:30:01.250000Z"))
        #expect(json["prev_hash"] == nil)
        #expect(r.receiptJSON == .object([
            "id": .string(Self.event.id), "position": .int(1234), "version": .int(5),
            "recorded_at": .string("2026-03-02T17:30:01.250000Z"), "hash": .string(Hex.encode(r.hash)),
        ]))
    }

    // MARK: Hex

    @Test func hexRoundTrip() {
        let bytes: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xAB, 0xFF]
        #expect(Hex.encode(bytes) == "00017f80abff")
        #expect(Hex.decode("00017f80abff") == bytes)
        #expect(Hex.decode("00017F80ABFF") == bytes)
        #expect(Hex.decode("") == [])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("0g") == nil)
    }

    // MARK: Seals

    private func seal(
        sequence: Int64 = 3, upto: Int64 = 1234, count: Int64 = 100,
        events: [UInt8] = [UInt8](repeating: 1, count: 32), prev: [UInt8] = [UInt8](repeating: 2, count: 32)
    ) -> [UInt8] {
        Seal.digest(sequence: sequence, uptoPosition: upto, eventCount: count, eventsDigest: events, prevDigest: prev)
    }

    /// Hand-written canonical seal form, hashed independently with Python's hashlib.
    @Test func sealKnownAnswer() {
        // {"event_count":100,"events_digest":"0101…","prev_digest":"0202…","seal_format":1,"sequence":3,"upto_position":1234}
        #expect(Hex.encode(seal()) == "a819a470f3287d15e335bc37e86ca49b7644497ee854f009bac7ee5babee2ea8")
    }

    @Test func sealInitComputesItsDigest() {
        let s = Seal(
            sequence: 3, uptoPosition: 1234, eventCount: 100, eventsDigest: [UInt8](repeating: 1, count: 32),
            prevDigest: [UInt8](repeating: 2, count: 32))
        #expect(s.digest == seal())
        #expect(s.digest.count == 32)
    }

    @Test func sealDigestChangesWithEachField() {
        var other = [UInt8](repeating: 1, count: 32)
        other[0] = 0
        let digests = [
            seal(), seal(sequence: 4), seal(upto: 1235), seal(count: 101), seal(events: other),
            seal(prev: [UInt8](repeating: 3, count: 32)), seal(prev: []),
        ]
        #expect(Set(digests).count == digests.count)
        #expect(seal() == seal(), "deterministic")
    }

    /// A first seal over an empty range: hand-written form hashed with Python.
    @Test func firstSealOverNothing() {
        let empty = SealAccumulator(after: 0)
        #expect(Hex.encode(empty.finalize()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "SHA-256 of nothing")
        let s = Seal(sequence: 1, uptoPosition: 0, eventCount: empty.count, eventsDigest: empty.finalize(), prevDigest: [])
        #expect(Hex.encode(s.digest) == "460c7bf6c8a37c5d14680338cd26f9143846bf790b560076611bd0f8da57d07c")
    }

    // MARK: Seal accumulator

    @Test func accumulatorKnownAnswer() {
        // SHA-256(be64(1) ‖ 0xAA×32 ‖ be64(256) ‖ 0xBB×32), computed with Python.
        var acc = SealAccumulator(after: 0)
        acc.add(position: 1, hash: [UInt8](repeating: 0xAA, count: 32))
        acc.add(position: 256, hash: [UInt8](repeating: 0xBB, count: 32))
        #expect(Hex.encode(acc.finalize()) == "f5936fb00768b048a2e066926598e7182dadc71d3d1803fea940181395a1555b")
        #expect(acc.count == 2)
        #expect(acc.lastPosition == 256)
    }

    @Test func accumulatorIsOrderSensitive() {
        let h1 = [UInt8](repeating: 0x11, count: 32)
        let h2 = [UInt8](repeating: 0x22, count: 32)
        var a = SealAccumulator(after: 0)
        a.add(position: 1, hash: h1)
        a.add(position: 2, hash: h2)
        var b = SealAccumulator(after: 0)
        b.add(position: 2, hash: h2)
        b.add(position: 1, hash: h1)
        #expect(a.finalize() != b.finalize())
        // The positions are committed to, not only the hashes.
        var c = SealAccumulator(after: 0)
        c.add(position: 1, hash: h1)
        c.add(position: 3, hash: h2)
        #expect(a.finalize() != c.finalize())
        // A dropped event changes the digest.
        var d = SealAccumulator(after: 0)
        d.add(position: 1, hash: h1)
        #expect(a.finalize() != d.finalize())
        // The same sequence gives the same digest.
        var e = SealAccumulator(after: 0)
        e.add(position: 1, hash: h1)
        e.add(position: 2, hash: h2)
        #expect(a.finalize() == e.finalize())
    }

    @Test func accumulatorTracksCountAndLastPosition() {
        var acc = SealAccumulator(after: 41)
        #expect(acc.count == 0)
        #expect(acc.lastPosition == 41)
        acc.add(position: 45, hash: [1])
        acc.add(position: 50, hash: [2])
        #expect(acc.count == 2)
        #expect(acc.lastPosition == 50)
    }

    @Test func finalizeDoesNotDisturbTheAccumulator() {
        var a = SealAccumulator(after: 0)
        a.add(position: 1, hash: [1, 2, 3])
        let early = a.finalize()
        #expect(a.finalize() == early)
        a.add(position: 2, hash: [4, 5, 6])
        var b = SealAccumulator(after: 0)
        b.add(position: 1, hash: [1, 2, 3])
        b.add(position: 2, hash: [4, 5, 6])
        #expect(a.finalize() == b.finalize())
        #expect(a.finalize() != early)
    }
}
