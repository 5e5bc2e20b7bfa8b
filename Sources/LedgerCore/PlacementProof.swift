import Foundation

/// A proof of one placement against a signed seal (docs/proofs.md, "Placement proofs"): the
/// posting's stream up to its last sealed event, with the posting's own events and this student's
/// events disclosed in full and every other event withheld as its commitment and subject tag; the
/// RFC 9162 inclusion proof of the last event in the sealed tree; and the placement row as of the
/// seal. `verify` checks it with nothing but the published keys.
public struct PlacementProof: Sendable {
    public static let format: Int64 = 1

    public enum Entry: Sendable, Equatable {
        /// An event shown in full; `salt` is its commitment's salt (format 2) or nil (format 1).
        case disclosed(RecordedEvent, salt: [UInt8]?)
        /// Another student's event: what its hash commits to, never its content.
        case withheld(version: Int64, position: Int64, recordedAt: Timestamp, commitment: [UInt8], subject: [UInt8])

        public var version: Int64 {
            switch self {
            case .disclosed(let e, _): e.version
            case .withheld(let version, _, _, _, _): version
            }
        }
    }

    public var postingID: String
    public var studentID: String
    public var seal: SignedSeal
    /// The placement row as of the seal (the contract's placement object).
    public var placement: JSON
    /// The salt of this student's subject tag on this posting.
    public var subjectSalt: [UInt8]
    /// The stream from version 1 to its last sealed event, in version order.
    public var entries: [Entry]
    public var leafIndex: Int64
    public var eventHash: [UInt8]
    public var path: [[UInt8]]
    /// The ledger's signed statement of where the stream ends as of the seal.
    public var head: SignedStreamHead

    public init(
        postingID: String, studentID: String, seal: SignedSeal, placement: JSON, subjectSalt: [UInt8], entries: [Entry], leafIndex: Int64,
        eventHash: [UInt8], path: [[UInt8]], head: SignedStreamHead
    ) {
        self.postingID = postingID
        self.studentID = studentID
        self.seal = seal
        self.placement = placement
        self.subjectSalt = subjectSalt
        self.entries = entries
        self.leafIndex = leafIndex
        self.eventHash = eventHash
        self.path = path
        self.head = head
    }

    /// This student's subject tag: the one every event about them carries.
    public var subject: [UInt8] { PrivateEventHash.subject(studentID: studentID, salt: subjectSalt) }

    // MARK: JSON

    public var json: JSON {
        let events: [JSON] = entries.map { entry in
            switch entry {
            case .disclosed(let e, let salt):
                var m: [String: JSON] = [
                    "version": .int(e.version), "position": .int(e.position), "recorded_at": .string(e.recordedAt.rfc3339),
                    "hash_format": .int(e.hashFormat), "event": e.event.json,
                ]
                if let salt { m["salt"] = .string(Hex.encode(salt)) }
                return .object(m)
            case .withheld(let version, let position, let recordedAt, let commitment, let subject):
                return .object([
                    "version": .int(version), "position": .int(position), "recorded_at": .string(recordedAt.rfc3339),
                    "hash_format": .int(PrivateEventHash.format), "commitment": .string(Hex.encode(commitment)),
                    "subject": .string(Hex.encode(subject)),
                ])
            }
        }
        return .object([
            "proof_format": .int(Self.format), "posting_id": .string(postingID), "student_id": .string(studentID),
            "seal": seal.json, "placement": placement, "subject_salt": .string(Hex.encode(subjectSalt)), "events": .array(events),
            "inclusion": .object([
                "leaf_index": .int(leafIndex), "event_hash": .string(Hex.encode(eventHash)),
                "path": .array(path.map { .string(Hex.encode($0)) }),
            ]),
            "stream_head": head.json,
        ])
    }

    /// Reads a proof document; fails naming the first member that is missing or malformed.
    public init(json: JSON) throws(ProofFailure) {
        guard case .object = json else { throw ProofFailure("the proof is not a JSON object") }
        if case .string(let code)? = json["error"]?["code"] {
            let message = json["error"]?["message"].flatMap { if case .string(let m) = $0 { m } else { nil } } ?? ""
            throw ProofFailure("the file is the daemon's error answer, not a proof: \(code): \(message)")
        }
        guard case .int(let format)? = json["proof_format"] else { throw ProofFailure("proof_format is missing") }
        guard format == Self.format else { throw ProofFailure("proof_format \(format) is not one this verifier knows (\(Self.format))") }
        postingID = try Self.string(json, "posting_id")
        studentID = try Self.string(json, "student_id")
        // Exactly the signed members: a member the signature does not cover would be read by no check.
        guard case .object(let sealMembers)? = json["seal"], Set(sealMembers.keys) == Self.sealMembers else {
            throw ProofFailure("seal must have exactly the members \(Self.sealMembers.sorted().joined(separator: ", "))")
        }
        guard let sealJSON = json["seal"], let seal = SignedSeal(json: sealJSON) else {
            throw ProofFailure("seal is missing or malformed (it needs seal, tree_size, up_to_position, root, previous, sealed_at, key_id, signature)")
        }
        self.seal = seal
        guard let placement = json["placement"], case .object = placement else { throw ProofFailure("placement is missing") }
        self.placement = placement
        subjectSalt = try Self.hex(json, "subject_salt", bytes: 32)
        guard case .array(let events)? = json["events"] else { throw ProofFailure("events is missing") }
        var entries: [Entry] = []
        for (i, item) in events.enumerated() {
            let what = "events[\(i)]"
            guard case .int(let version)? = item["version"], case .int(let position)? = item["position"],
                case .string(let recordedText)? = item["recorded_at"], let recordedAt = Timestamp(rfc3339: recordedText),
                case .int(let hashFormat)? = item["hash_format"]
            else { throw ProofFailure("\(what) needs version, position, recorded_at and hash_format") }
            if let eventJSON = item["event"] {
                let event: Event
                do { event = try Event(json: eventJSON) } catch { throw ProofFailure("\(what).event is not a valid event: \(error.message)") }
                // What is hashed is the envelope as given; the fold reads the parsed event: they must be the same.
                guard event.json.canonicalBytes == eventJSON.canonicalBytes else {
                    throw ProofFailure("\(what).event is not in the ledger's normal form (for example an id in upper case)")
                }
                let salt: [UInt8]? = hashFormat == 1 ? nil : try Self.hex(item, "salt", bytes: 32, in: what)
                entries.append(
                    .disclosed(
                        RecordedEvent(event: event, position: position, version: version, recordedAt: recordedAt, prevHash: [], hash: [], hashFormat: hashFormat),
                        salt: salt))
            } else {
                guard hashFormat == PrivateEventHash.format else {
                    throw ProofFailure("\(what) withholds its content but has hash_format \(hashFormat): only format 2 events can be withheld")
                }
                entries.append(
                    .withheld(
                        version: version, position: position, recordedAt: recordedAt,
                        commitment: try Self.hex(item, "commitment", bytes: 32, in: what), subject: try Self.hex(item, "subject", bytes: 32, in: what)))
            }
        }
        self.entries = entries
        guard let inclusion = json["inclusion"], case .int(let leafIndex)? = inclusion["leaf_index"] else {
            throw ProofFailure("inclusion.leaf_index is missing")
        }
        self.leafIndex = leafIndex
        eventHash = try Self.hex(inclusion, "event_hash", bytes: 32, in: "inclusion")
        guard case .array(let nodes)? = inclusion["path"] else { throw ProofFailure("inclusion.path is missing") }
        path = try nodes.enumerated().map { (i, node) throws(ProofFailure) in
            guard case .string(let text) = node, let bytes = Hex.decode(text), bytes.count == 32 else {
                throw ProofFailure("inclusion.path[\(i)] is not 32 bytes of hex")
            }
            return bytes
        }
        guard case .object(let headMembers)? = json["stream_head"], Set(headMembers.keys) == Self.headMembers else {
            throw ProofFailure("stream_head must have exactly the members \(Self.headMembers.sorted().joined(separator: ", "))")
        }
        guard let headJSON = json["stream_head"], let head = SignedStreamHead(json: headJSON, postingID: postingID) else {
            throw ProofFailure("stream_head is missing or malformed (it needs seal, version, event_hash, key_id, signature)")
        }
        self.head = head
    }

    static let sealMembers: Set<String> = ["seal", "tree_size", "up_to_position", "root", "previous", "sealed_at", "key_id", "signature"]
    static let headMembers: Set<String> = ["seal", "version", "event_hash", "key_id", "signature"]

    private static func string(_ json: JSON, _ key: String) throws(ProofFailure) -> String {
        guard case .string(let value)? = json[key] else { throw ProofFailure("\(key) is missing") }
        return value
    }

    private static func hex(_ json: JSON, _ key: String, bytes: Int, in parent: String? = nil) throws(ProofFailure) -> [UInt8] {
        let name = parent.map { "\($0).\(key)" } ?? key
        guard case .string(let text)? = json[key], let value = Hex.decode(text), value.count == bytes else {
            throw ProofFailure("\(name) must be \(bytes) bytes of hex")
        }
        return value
    }

    // MARK: Verification

    /// Checks everything docs/proofs.md lists, in its order, against the published `keys`
    /// (`GET /v1/seals/keys`); returns the placement the disclosed events give, or throws naming
    /// the first thing that failed.
    @discardableResult
    public func verify(keys: [PublishedSealKey]) throws(ProofFailure) -> PlacementRow {
        // 1. The seal and the stream's head: listed keys, in service when the seal was made, and
        //    their signatures; the head is of this posting, as of this seal.
        let key = try Self.key(seal.keyID, for: "the seal", in: keys, at: seal.sealedAt)
        guard seal.hasValidSignature(publicKey: key.publicKey) else {
            throw ProofFailure("the seal's signature does not verify with key \(key.id)")
        }
        let headKey = try Self.key(head.keyID, for: "stream_head", in: keys, at: seal.sealedAt)
        guard head.hasValidSignature(publicKey: headKey.publicKey) else {
            throw ProofFailure("stream_head's signature does not verify with key \(headKey.id)")
        }
        guard head.seal == seal.sequence else {
            throw ProofFailure("stream_head speaks of seal #\(head.seal), the proof's seal is #\(seal.sequence)")
        }
        // 2. The stream: versions 1…n, each hash chained to the one before, recomputed from what is shown.
        guard !entries.isEmpty else { throw ProofFailure("the proof shows no events") }
        let tag = subject
        var previous: [UInt8] = []
        var lastPosition: Int64 = 0
        var disclosed: [Event] = []
        for (i, entry) in entries.enumerated() {
            let version = Int64(i + 1)
            guard entry.version == version else {
                throw ProofFailure("events must run from version 1 without a gap: events[\(i)] has version \(entry.version), not \(version)")
            }
            switch entry {
            case .disclosed(let e, let salt):
                guard e.position > lastPosition else { throw ProofFailure("version \(version)'s position does not follow the one before") }
                guard e.event.postingID == postingID else {
                    throw ProofFailure("version \(version) belongs to posting \(e.event.postingID), not \(postingID)")
                }
                if let student = e.event.data.studentID, student != studentID {
                    throw ProofFailure("version \(version) is another student's event shown in full: a proof discloses only its own student's")
                }
                switch (e.hashFormat, salt) {
                case (1, nil):
                    previous = EventHash.compute(
                        event: e.event, version: version, position: e.position, recordedAt: e.recordedAt, prevHash: previous)
                case (2, let salt?):
                    let commitment = PrivateEventHash.commitment(
                        content: PrivateEventHash.contentBytes(event: e.event, data: e.event.data.json.canonicalBytes), salt: salt)
                    previous = PrivateEventHash.chainHash(
                        commitment: commitment, subject: e.event.data.studentID == nil ? nil : tag, version: version, position: e.position,
                        postingID: postingID, recordedAt: e.recordedAt, prevHash: previous)
                default:
                    throw ProofFailure("version \(version) has hash_format \(e.hashFormat), which this verifier does not know")
                }
                lastPosition = e.position
                disclosed.append(e.event)
            case .withheld(_, let position, let recordedAt, let commitment, let subject):
                guard position > lastPosition else { throw ProofFailure("version \(version)'s position does not follow the one before") }
                guard subject != tag else {
                    throw ProofFailure("version \(version) is an event of student \(studentID) (it carries their subject tag) but is withheld")
                }
                previous = PrivateEventHash.chainHash(
                    commitment: commitment, subject: subject, version: version, position: position, postingID: postingID,
                    recordedAt: recordedAt, prevHash: previous)
                lastPosition = position
            }
        }
        // 3. The stream ends where the ledger says it does, and its last event is in the sealed tree.
        guard Int64(entries.count) == head.version else {
            throw ProofFailure(
                "the stream shown ends at version \(entries.count), but the ledger signed that posting \(postingID) ends at version \(head.version) as of seal #\(head.seal): events at the end were left out or added")
        }
        guard eventHash == head.eventHash else {
            throw ProofFailure(
                "inclusion.event_hash is not the last event's hash the ledger signed for posting \(postingID) as of seal #\(head.seal): the proved event is not the stream's last")
        }
        guard previous == eventHash else {
            throw ProofFailure("the stream does not hash to inclusion.event_hash: an event was changed, removed or added")
        }
        guard lastPosition <= seal.uptoPosition else {
            throw ProofFailure("the stream's last event (position \(lastPosition)) is after the seal (up to position \(seal.uptoPosition))")
        }
        guard leafIndex >= 0, leafIndex < seal.treeSize,
            Merkle.verifyInclusion(
                index: Int(leafIndex), size: Int(seal.treeSize), leafHash: Merkle.leafHash(eventHash), proof: path, root: seal.root)
        else {
            throw ProofFailure("the inclusion proof does not lead from leaf \(leafIndex) to the seal's root")
        }
        // 4. The placement follows from the disclosed events by the ledger's own rules.
        var state = PostingState(postingID: postingID)
        for event in disclosed { state.evolve(event) }
        guard let row = PlacementRow(posting: state, studentID: studentID) else {
            throw ProofFailure("the disclosed events do not select student \(studentID) on posting \(postingID)")
        }
        if row.json.canonicalBytes != placement.canonicalBytes {
            let expected = row.json
            guard let differing = PlacementRow.columns.first(where: { expected[$0] != placement[$0] }) else {
                let names: [String] = if case .object(let members) = placement { Array(members.keys) } else { [] }
                let extra = names.filter { !PlacementRow.columns.contains($0) }.sorted().joined(separator: ", ")
                throw ProofFailure("the placement has members a placement does not have: \(extra)")
            }
            let given = placement[differing].map { String(decoding: $0.canonicalBytes, as: UTF8.self) } ?? "missing"
            let computed = expected[differing].map { String(decoding: $0.canonicalBytes, as: UTF8.self) } ?? "missing"
            throw ProofFailure("the placement's \(differing) is \(given), but the disclosed events give \(computed)")
        }
        return row
    }

    /// The listed key `id`, whose id is derived from it and which was in service at `time`.
    static func key(_ id: String, for what: String, in keys: [PublishedSealKey], at time: Timestamp) throws(ProofFailure) -> PublishedSealKey {
        guard let key = keys.first(where: { $0.id == id }) else {
            throw ProofFailure("\(what) names key \(id), which the keys file does not list")
        }
        guard SealSigningKey.id(publicKey: key.publicKey) == key.id else {
            throw ProofFailure("key \(key.id)'s public key does not match its id (the id is derived from the key)")
        }
        if let retired = key.retiredAt, retired < time {
            throw ProofFailure("key \(key.id) was retired at \(retired.rfc3339), before the seal was made at \(time.rfc3339)")
        }
        return key
    }
}

/// Why a proof does not hold.
public struct ProofFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A public key as `GET /v1/seals/keys` lists it.
public struct PublishedSealKey: Sendable, Hashable {
    public var id: String
    public var publicKey: [UInt8]
    public var createdAt: Timestamp
    public var retiredAt: Timestamp?

    public init(id: String, publicKey: [UInt8], createdAt: Timestamp, retiredAt: Timestamp?) {
        self.id = id
        self.publicKey = publicKey
        self.createdAt = createdAt
        self.retiredAt = retiredAt
    }

    public var json: JSON {
        .object([
            "key_id": .string(id), "algorithm": .string("ed25519"), "public_key": .string(Data(publicKey).base64EncodedString()),
            "created_at": .string(createdAt.rfc3339), "retired_at": retiredAt.map { .string($0.rfc3339) } ?? .null,
        ])
    }

    /// The keys of a `{"keys":[…]}` document.
    public static func list(json: JSON) throws(ProofFailure) -> [PublishedSealKey] {
        guard case .array(let items)? = json["keys"] else { throw ProofFailure("the keys file has no \"keys\" array") }
        return try items.enumerated().map { (i, item) throws(ProofFailure) in
            guard case .string(let id)? = item["key_id"], case .string(let algorithm)? = item["algorithm"],
                case .string(let base64)? = item["public_key"], let raw = Data(base64Encoded: base64), raw.count == 32,
                case .string(let createdText)? = item["created_at"], let createdAt = Timestamp(rfc3339: createdText)
            else { throw ProofFailure("keys[\(i)] needs key_id, algorithm, public_key (32 bytes, base64) and created_at") }
            guard algorithm == "ed25519" else { throw ProofFailure("keys[\(i)] has algorithm \(algorithm); seals are signed with ed25519") }
            var retiredAt: Timestamp?
            switch item["retired_at"] {
            case nil, .null?: retiredAt = nil
            case .string(let text)?:
                guard let t = Timestamp(rfc3339: text) else { throw ProofFailure("keys[\(i)].retired_at is not an RFC 3339 time") }
                retiredAt = t
            default: throw ProofFailure("keys[\(i)].retired_at is not an RFC 3339 time")
            }
            return PublishedSealKey(id: id, publicKey: Array(raw), createdAt: createdAt, retiredAt: retiredAt)
        }
    }
}
