import Crypto

/// The ledger's proof secret (32 bytes, stored in the database, never served): the salts of hash
/// format 2 derive from it, so a proof can disclose one student's salts and nothing that opens
/// another student's commitments.
public struct ProofKey: Sendable {
    /// HMAC keyed with the secret, its key block absorbed once: every derivation copies it.
    let keyed: HMAC<SHA256>

    public init(secret: [UInt8]) {
        keyed = HMAC<SHA256>(key: SymmetricKey(data: secret))
    }

    /// The salt of an event's content commitment: HMAC-SHA-256(secret, "event-salt" 0x00 id).
    public func eventSalt(id: String) -> [UInt8] {
        mac("event-salt", [id])
    }

    /// The salt of a student's subject tag on one posting:
    /// HMAC-SHA-256(secret, "subject" 0x00 posting_id 0x00 student_id).
    public func subjectSalt(postingID: String, studentID: String) -> [UInt8] {
        mac("subject", [postingID, studentID])
    }

    private func mac(_ label: String, _ parts: [String]) -> [UInt8] {
        var hmac = keyed
        hmac.update(data: Array(label.utf8))
        for part in parts {
            hmac.update(data: [0])
            hmac.update(data: Array(part.utf8))
        }
        return Array(hmac.finalize())
    }
}

/// Hash format 2: an event's chain hash commits to a salted digest of its content and to a salted
/// tag of the student it is about, so a proof can show another student's event as two digests that
/// confirm no guess of its content or its student (see docs/proofs.md, "Hash format 2").
///
/// - `commitment` = SHA-256(salt ‖ RFC 8785 bytes of the envelope: actor, data, expected_version, id,
///   occurred_at, posting_id, type);
/// - `subject` = SHA-256(subject salt ‖ student_id) for an event about a student, null for the
///   posting's own events;
/// - `hash` = SHA-256 of the RFC 8785 object {commitment, hash_format: 2, position, posting_id,
///   prev_hash, recorded_at, subject, version}.
public enum PrivateEventHash {
    public static let format: Int64 = 2

    public static func compute(
        event: Event, version: Int64, position: Int64, recordedAt: Timestamp, prevHash: [UInt8], data: [UInt8], key: ProofKey
    ) -> [UInt8] {
        let commitment = self.commitment(content: contentBytes(event: event, data: data), salt: key.eventSalt(id: event.id))
        let subject = event.data.studentID.map {
            self.subject(studentID: $0, salt: key.subjectSalt(postingID: event.postingID, studentID: $0))
        }
        return chainHash(
            commitment: commitment, subject: subject, version: version, position: position, postingID: event.postingID,
            recordedAt: recordedAt, prevHash: prevHash)
    }

    public static func commitment(content: [UInt8], salt: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: salt)
        hasher.update(data: content)
        return Array(hasher.finalize())
    }

    public static func subject(studentID: String, salt: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: salt)
        hasher.update(data: Array(studentID.utf8))
        return Array(hasher.finalize())
    }

    /// The envelope's RFC 8785 bytes (`event.json.canonicalBytes`), written member by member with
    /// the data's canonical bytes as given (an append has them already).
    public static func contentBytes(event: Event, data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 192)
        // Keys in RFC 8785 order: actor, data, expected_version, id, occurred_at, posting_id, type.
        EventHash.writeEnvelopeHead(event: event, data: data, into: &out)
        out.append(contentsOf: #","id":"#.utf8)
        JSON.writeString(event.id, into: &out)
        out.append(contentsOf: #","occurred_at":"#.utf8)
        JSON.writeString(event.occurredAt.rfc3339, into: &out)
        out.append(contentsOf: #","posting_id":"#.utf8)
        JSON.writeString(event.postingID, into: &out)
        out.append(contentsOf: #","type":"#.utf8)
        JSON.writeString(event.type.rawValue, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The object the chain hash is taken over.
    public static func chainForm(
        commitment: [UInt8], subject: [UInt8]?, version: Int64, position: Int64, postingID: String, recordedAt: Timestamp,
        prevHash: [UInt8]
    ) -> JSON {
        .object([
            "commitment": .string(Hex.encode(commitment)), "hash_format": .int(format), "position": .int(position),
            "posting_id": .string(postingID), "prev_hash": .string(Hex.encode(prevHash)),
            "recorded_at": .string(recordedAt.rfc3339), "subject": subject.map { .string(Hex.encode($0)) } ?? .null,
            "version": .int(version),
        ])
    }

    public static func chainHash(
        commitment: [UInt8], subject: [UInt8]?, version: Int64, position: Int64, postingID: String, recordedAt: Timestamp,
        prevHash: [UInt8]
    ) -> [UInt8] {
        Array(
            SHA256.hash(
                data: chainBytes(
                    commitment: commitment, subject: subject, version: version, position: position, postingID: postingID,
                    recordedAt: recordedAt, prevHash: prevHash)))
    }

    /// `chainForm(...).canonicalBytes`, written member by member in key order (every append
    /// hashes every event; building and sorting an object per event is most of that cost). The
    /// tests check the two agree.
    static func chainBytes(
        commitment: [UInt8], subject: [UInt8]?, version: Int64, position: Int64, postingID: String, recordedAt: Timestamp,
        prevHash: [UInt8]
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(400 + postingID.utf8.count)
        out.append(contentsOf: #"{"commitment":""#.utf8)
        Hex.write(commitment, into: &out)
        out.append(contentsOf: #"","hash_format":"#.utf8)
        JSON.writeInteger(format, into: &out)
        out.append(contentsOf: #","position":"#.utf8)
        JSON.writeInteger(position, into: &out)
        out.append(contentsOf: #","posting_id":"#.utf8)
        JSON.writeString(postingID, into: &out)
        out.append(contentsOf: #","prev_hash":""#.utf8)
        Hex.write(prevHash, into: &out)
        out.append(contentsOf: #"","recorded_at":"#.utf8)
        JSON.writeString(recordedAt.rfc3339, into: &out)
        if let subject {
            out.append(contentsOf: #","subject":""#.utf8)
            Hex.write(subject, into: &out)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: #","subject":null"#.utf8)
        }
        out.append(contentsOf: #","version":"#.utf8)
        JSON.writeInteger(version, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
