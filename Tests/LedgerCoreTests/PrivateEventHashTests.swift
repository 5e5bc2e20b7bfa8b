@testable import LedgerCore
import Testing

@Suite("Hash format 2: salted commitments and subject tags")
struct PrivateEventHashTests {
    static let key = ProofKey(secret: Array(repeating: 7, count: 32))

    private func hash(_ event: Event = IntegrityTests.event, key: ProofKey = PrivateEventHashTests.key, prevHash: [UInt8] = IntegrityTests.prev)
        -> [UInt8]
    {
        PrivateEventHash.compute(
            event: event, version: 5, position: 1234, recordedAt: IntegrityTests.recordedAt, prevHash: prevHash,
            data: event.data.json.canonicalBytes, key: key)
    }

    /// Computed independently with Python's hmac and hashlib from docs/proofs.md ("Hash format 2").
    @Test func knownAnswer() {
        let event = IntegrityTests.event
        let content = PrivateEventHash.contentBytes(event: event, data: event.data.json.canonicalBytes)
        #expect(content == event.json.canonicalBytes)
        #expect(
            Hex.encode(PrivateEventHash.commitment(content: content, salt: Self.key.eventSalt(id: event.id)))
                == "3f30efeb1d0afbc9badd4348fd2b7414e232d7b93278e7c700fcb3a9d459552d")
        #expect(
            Hex.encode(PrivateEventHash.subject(studentID: "s-77", salt: Self.key.subjectSalt(postingID: "p-1042", studentID: "s-77")))
                == "4db07e33801902171b066453b972099523c7f0165aa1a3ead770b23a8e2dfe2a")
        #expect(Hex.encode(hash()) == "a09af3b4de34683fd51c4bee91367e0f789e03237bf5b3cd41e4b0e0bd775cf1")
    }

    @Test("the content written member by member equals the envelope's canonical bytes, for every event type")
    func contentBytes() {
        var events = Array(DemoHistory(postings: 20, seed: 5).prefix(300))
        events[0].actor = nil
        events[1].expectedVersion = nil
        events[2].actor = "company:\"c\"\n"
        for event in events {
            #expect(PrivateEventHash.contentBytes(event: event, data: event.data.json.canonicalBytes) == event.json.canonicalBytes)
        }
        #expect(Set(events.map(\.type)).count >= 8)
    }

    @Test("the chained form written member by member equals the canonical object, with and without a subject")
    func chainBytes() {
        for (i, subject) in [nil, [UInt8](repeating: 0x5A, count: 32)].enumerated() {
            let prev: [UInt8] = i == 0 ? [] : IntegrityTests.prev
            let args = (commitment: [UInt8](repeating: UInt8(i + 1), count: 32), version: Int64(i + 1), position: Int64(9_000_000_000 + i))
            let form = PrivateEventHash.chainForm(
                commitment: args.commitment, subject: subject, version: args.version, position: args.position, postingID: "p-\"é\(i)",
                recordedAt: IntegrityTests.recordedAt, prevHash: prev)
            let written = PrivateEventHash.chainBytes(
                commitment: args.commitment, subject: subject, version: args.version, position: args.position, postingID: "p-\"é\(i)",
                recordedAt: IntegrityTests.recordedAt, prevHash: prev)
            #expect(String(decoding: written, as: UTF8.self) == form.canonicalString)
        }
    }

    @Test("every edit, another key, or reading it as format 1 fails verification")
    func verifyDetectsEdits() {
        let good = RecordedEvent(
            event: IntegrityTests.event, position: 1234, version: 5, recordedAt: IntegrityTests.recordedAt, prevHash: IntegrityTests.prev,
            hash: hash(), hashFormat: 2)
        #expect(EventHash.verify(good, key: Self.key))
        #expect(!EventHash.verify(good), "format 2 without the key")
        #expect(!EventHash.verify(good, key: ProofKey(secret: Array(repeating: 8, count: 32))))
        var edits: [RecordedEvent] = []
        var e = good; e.hashFormat = 1; edits.append(e)
        e = good; e.hashFormat = 3; edits.append(e)
        e = good; e.event.data = .hoursLogged(studentID: "s-77", minutes: 91, workDate: CivilDate(year: 2026, month: 3, day: 2)!, note: nil, reason: nil); edits.append(e)
        e = good; e.event.data = .hoursLogged(studentID: "s-78", minutes: 90, workDate: CivilDate(year: 2026, month: 3, day: 2)!, note: nil, reason: nil); edits.append(e)
        e = good; e.event.actor = nil; edits.append(e)
        e = good; e.event.id = "0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c12"; edits.append(e)
        e = good; e.event.postingID = "p-1043"; edits.append(e)
        e = good; e.event.expectedVersion = nil; edits.append(e)
        e = good; e.event.occurredAt = e.event.occurredAt.adding(seconds: 1); edits.append(e)
        e = good; e.version = 6; edits.append(e)
        e = good; e.position = 1235; edits.append(e)
        e = good; e.recordedAt = e.recordedAt.adding(seconds: 1); edits.append(e)
        e = good; e.prevHash = []; edits.append(e)
        for (i, edit) in edits.enumerated() {
            #expect(!EventHash.verify(edit, key: Self.key), "edit \(i) went unnoticed")
        }
    }

    @Test("salts differ per event and per student, and a posting's own events have no subject")
    func saltsAndSubjects() {
        let k = Self.key
        #expect(k.eventSalt(id: "a") != k.eventSalt(id: "b"))
        #expect(k.subjectSalt(postingID: "p-1", studentID: "s-1") != k.subjectSalt(postingID: "p-1", studentID: "s-2"))
        #expect(k.subjectSalt(postingID: "p-1", studentID: "s-1") != k.subjectSalt(postingID: "p-2", studentID: "s-1"))
        // The separator keeps ("p-1", "0s") and ("p-10", "s") apart.
        #expect(k.subjectSalt(postingID: "p-1", studentID: "0s") != k.subjectSalt(postingID: "p-10", studentID: "s"))
        let posted = Event(
            id: "0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c13", postingID: "p-1042", occurredAt: IntegrityTests.recordedAt, expectedVersion: nil,
            actor: nil, data: .closed(reason: nil))
        let form = PrivateEventHash.chainForm(
            commitment: [1], subject: nil, version: 1, position: 1, postingID: posted.postingID, recordedAt: IntegrityTests.recordedAt,
            prevHash: [])
        #expect(form.canonicalString.contains(#""subject":null"#))
    }
}
