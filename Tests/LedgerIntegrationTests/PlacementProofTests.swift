import Foundation
import HTTPTypes
import HummingbirdTesting
import LedgerCore
import LedgerHTTP
import LedgerStore
import Testing

/// Placement proofs through the real router, checked by the offline verifier (`PlacementProof.verify`).
@Suite("Placement proofs")
struct PlacementProofTests {
    /// p-pf: s-1 (u-1) and s-2 (u-2) placed, each paid; s-3 applied only.
    static func history() -> [Event] {
        var e = Events("p-pf")
        return [
            e.posted(openings: 2, stipend: .hourly(rateMinor: 1_500, maxHours: 40, currency: "EUR")),
            e.applied("s-1"), e.applied("s-2", university: "u-2"), e.applied("s-3", university: "u-2"),
            e.selected("s-2"), e.selected("s-1"),
            e.make(.hoursLogged(studentID: "s-2", minutes: 600, workDate: CivilDate(year: 2026, month: 3, day: 2)!, note: "secret-note-of-s-2", reason: nil)),
            e.make(.hoursLogged(studentID: "s-1", minutes: 250, workDate: CivilDate(year: 2026, month: 3, day: 2)!, note: nil, reason: nil)),
            e.paid("s-2", 9_000, ref: "ch_other_student", currency: "EUR"),
            e.paid("s-1", 4_000, ref: "ch_mine", currency: "EUR"),
        ]
    }

    @Test("a university's proof verifies offline, shows nothing of other students, and each single tampering is refused")
    func proofVerifiesAndTamperingFails() async throws {
        try await APIFixture.with { f, client in
            let events = Self.history()
            _ = try await f.ledger.store.append(events)
            // Another posting's events, so the stream is not the whole tree.
            var other = Events("p-pf-other")
            _ = try await f.ledger.store.append(other.placement("s-9"))
            _ = try await f.ledger.seal()
            let reply = try await client.call(.get, "/v1/placements/p-pf/s-1/proof", key: f.university)
            #expect(reply.status == .ok, "\(reply.json)")
            let text = String(decoding: reply.json.canonicalBytes, as: UTF8.self)
            for secret in ["s-2", "s-3", "u-2", "ch_other_student", "secret-note-of-s-2"] + events.filter({
                $0.data.studentID.map { $0 != "s-1" } ?? false
            }).map(\.id) {
                #expect(!text.contains(secret), "the proof shows \(secret)")
            }
            let keysReply = try await client.call(.get, "/v1/seals/keys")
            let keys = try PublishedSealKey.list(json: keysReply.json)
            let proof = try PlacementProof(json: try JSONParser.parse(Array(text.utf8)))
            let row = try proof.verify(keys: keys)
            #expect(row.earnedMinor == 6_250 && row.paidMinor == 4_000 && row.balanceMinor == 2_250 && row.universityID == "u-1")
            #expect(proof.entries.count == events.count)
            #expect(proof.entries.filter { if case .withheld = $0 { true } else { false } }.count == 5)
            let live = try await client.call(.get, "/v1/placements/p-pf/s-1", key: f.university)
            #expect(live.json["placement"] == proof.placement)

            // Each single tampering, on the document as served.
            func refused(_ name: String, expecting phrase: String, keys: [PublishedSealKey] = keys, _ edit: (inout PlacementProof) -> Void) {
                var copy = proof
                edit(&copy)
                do {
                    // Through its JSON, as a file would carry it.
                    try PlacementProof(json: try! JSONParser.parse(copy.json.canonicalBytes)).verify(keys: keys)
                    Issue.record("\(name): accepted")
                } catch {
                    #expect(error.message.contains(phrase), "\(name): \(error.message)")
                }
            }
            let mine = proof.entries.indices.filter {
                if case .disclosed(let e, _) = proof.entries[$0] { e.event.data.studentID == "s-1" } else { false }
            }
            let paidIndex = try #require(mine.last)
            refused("a disclosed amount", expecting: "inclusion.event_hash") {
                guard case .disclosed(var e, let salt) = $0.entries[paidIndex] else { return }
                e.event.data = .paid(studentID: "s-1", amountMinor: 4_500, currency: "EUR", paymentRef: "ch_mine", method: nil)
                $0.entries[paidIndex] = .disclosed(e, salt: salt)
            }
            refused("a disclosed time", expecting: "inclusion.event_hash") {
                guard case .disclosed(var e, let salt) = $0.entries[mine[0]] else { return }
                e.event.occurredAt = e.event.occurredAt.adding(seconds: 1)
                $0.entries[mine[0]] = .disclosed(e, salt: salt)
            }
            refused("the student's hours removed", expecting: "without a gap") { $0.entries.remove(at: mine[2]) }
            refused("the student's last event (the payment) removed", expecting: "left out or added") { $0.entries.remove(at: paidIndex) }
            // Cut short with a genuine inclusion path of the earlier event (as anyone with the feed
            // could make one): the ledger's signed stream head says where the stream ends.
            let cut = try await f.ledger.asApp { connection in
                let integrity = f.ledger.integrity
                let version = try #require(proof.entries[paidIndex - 1].version as Int64?)
                let hash = try await f.ledger.text("SELECT encode(hash, 'hex') FROM events WHERE posting_id = 'p-pf' AND version = \(version)")
                let position = Int64(try await f.ledger.text("SELECT position::text FROM events WHERE posting_id = 'p-pf' AND version = \(version)"))!
                let leaf = try await integrity.leafIndex(of: position, on: connection)
                let nodes = try await integrity.merkleNodes(treeSize: Int(proof.seal.treeSize), touching: [leaf], on: connection)
                return (Hex.decode(hash)!, leaf, try Merkle.inclusionProof(index: leaf, size: Int(proof.seal.treeSize), nodes: nodes))
            }
            refused("cut short before the payment, with a genuine inclusion path", expecting: "left out or added") {
                $0.entries.removeLast()
                $0.eventHash = cut.0
                $0.leafIndex = Int64(cut.1)
                $0.path = cut.2
                guard case .object(var m) = $0.placement else { return }
                m["paid_minor"] = .int(0)
                m["balance_minor"] = .int(6_250)
                m["settled"] = .bool(false)
                m["last_paid_at"] = .null
                $0.placement = .object(m)
            }
            refused("the stream head's version", expecting: "signature") { $0.head.version -= 1 }
            refused("the stream head's signature", expecting: "stream_head's signature") { $0.head.signature[3] ^= 1 }
            refused("a stream head of an older seal", expecting: "signature") { $0.head.seal -= 1 }
            // Members no signature covers, in the seal or the head: refused when read.
            for (member, phrase) in [("seal", "seal must have exactly"), ("stream_head", "stream_head must have exactly")] {
                guard case .object(var document) = proof.json, case .object(var inner)? = document[member] else { continue }
                inner["note"] = .string("unsigned")
                document[member] = .object(inner)
                do {
                    _ = try PlacementProof(json: .object(document))
                    Issue.record("an unsigned member in \(member) was accepted")
                } catch let error as ProofFailure {
                    #expect(error.message.contains(phrase), "\(error.message)")
                }
            }
            refused("an extra member in the placement", expecting: "members a placement does not have: extra") {
                guard case .object(var m) = $0.placement else { return }
                m["extra"] = .int(1)
                $0.placement = .object(m)
            }
            refused("the student's payment removed and versions renumbered", expecting: "left out or added") {
                $0.entries.remove(at: paidIndex)
                $0.entries = $0.entries.enumerated().map { i, entry in
                    switch entry {
                    case .disclosed(var e, let salt):
                        e.version = Int64(i + 1)
                        return .disclosed(e, salt: salt)
                    case .withheld(_, let position, let recordedAt, let commitment, let subject):
                        return .withheld(version: Int64(i + 1), position: position, recordedAt: recordedAt, commitment: commitment, subject: subject)
                    }
                }
            }
            refused("the student's payment withheld", expecting: "is withheld") {
                guard case .disclosed(let e, let salt?) = $0.entries[paidIndex] else { return }
                let commitment = PrivateEventHash.commitment(
                    content: PrivateEventHash.contentBytes(event: e.event, data: e.event.data.json.canonicalBytes), salt: salt)
                $0.entries[paidIndex] = .withheld(
                    version: e.version, position: e.position, recordedAt: e.recordedAt, commitment: commitment, subject: $0.subject)
            }
            refused("an inclusion path node", expecting: "seal's root") { $0.path[0][5] ^= 0x10 }
            refused("the leaf index", expecting: "seal's root") { $0.leafIndex += 1 }
            refused("the seal's root", expecting: "signature") { $0.seal.root[0] ^= 1 }
            refused("the seal's signature", expecting: "signature") { $0.seal.signature[10] ^= 1 }
            refused("the placement's paid figure", expecting: "paid_minor") {
                guard case .object(var m) = $0.placement else { return }
                m["paid_minor"] = .int(3_000)
                $0.placement = .object(m)
            }
            refused("the placement's balance", expecting: "balance_minor") {
                guard case .object(var m) = $0.placement else { return }
                m["balance_minor"] = .int(0)
                $0.placement = .object(m)
            }
            refused("another student's placement claimed", expecting: "another student's") { $0.studentID = "s-2" }
            let stranger = SealSigningKey()
            refused("a different public key under the same id", expecting: "does not match its id",
                keys: [PublishedSealKey(id: keys[0].id, publicKey: stranger.publicKey, createdAt: keys[0].createdAt, retiredAt: nil)]) { _ in }
            refused("a different key", expecting: "does not list",
                keys: [PublishedSealKey(id: stranger.id, publicKey: stranger.publicKey, createdAt: keys[0].createdAt, retiredAt: nil)]) { _ in }
            refused("a key retired before the seal", expecting: "retired",
                keys: [PublishedSealKey(id: keys[0].id, publicKey: keys[0].publicKey, createdAt: keys[0].createdAt, retiredAt: Timestamp(microseconds: 0))]) { _ in }
            // The untouched proof still holds: each refusal came from its own edit.
            #expect(throws: Never.self) { try proof.verify(keys: keys) }
        }
    }

    @Test("who may ask, and 409 until a seal covers the placement")
    func scopeAndNotSealed() async throws {
        try await APIFixture.with { f, client in
            _ = try await f.ledger.store.append(Self.history())
            let early = try await client.call(.get, "/v1/placements/p-pf/s-1/proof", key: f.university)
            #expect(early.status == .conflict && early.json.errorCode == "not_sealed", "\(early.json)")
            #expect(early.json["error"]?["message"].map { "\($0)".contains("placementctl seal") } == true)
            // Saved to a file and checked anyway, the error answer is named as what it is.
            do {
                _ = try PlacementProof(json: early.json)
                Issue.record("an error answer was read as a proof")
            } catch let error as ProofFailure {
                #expect(error.message.contains("error answer, not a proof: not_sealed"), "\(error.message)")
            }
            _ = try await f.ledger.seal()
            for (key, status) in [
                (f.university, HTTPResponse.Status.ok), (f.company, .ok), (f.platform, .ok), (f.admin, .ok),
                (f.otherUniversity, .notFound), (f.otherCompany, .notFound),
            ] {
                let reply = try await client.call(.get, "/v1/placements/p-pf/s-1/proof", key: key)
                #expect(reply.status == status, "\(reply.json)")
            }
            #expect(try await client.call(.get, "/v1/placements/p-pf/s-1/proof").status == .unauthorized)
            #expect(try await client.call(.get, "/v1/placements/p-pf/s-3/proof", key: f.platform).status == .notFound)
            // Placed after the latest seal: 409 until the next one.
            var e = Events("p-pf-later")
            _ = try await f.ledger.store.append(e.placement("s-1"))
            let unsealed = try await client.call(.get, "/v1/placements/p-pf-later/s-1/proof", key: f.university)
            #expect(unsealed.status == .conflict && unsealed.json.errorCode == "not_sealed", "\(unsealed.json)")
            #expect(unsealed.json["error"]?["message"].map { "\($0)".contains("next seal") } == true)
            _ = try await f.ledger.seal()
            #expect(try await client.call(.get, "/v1/placements/p-pf-later/s-1/proof", key: f.university).status == .ok)
        }
    }

    @Test("a posting with another student's event from before hash format 2 has no private proof (409 not_provable)")
    func formatOneHistory() async throws {
        try await APIFixture.with { f, client in
            let ledger = f.ledger
            var e = Events("p-old")
            _ = try await ledger.store.append(e.placement("s-1"))
            // An event recorded by an older version: hash format 1, about another student.
            let head = try await ledger.text("SELECT version || ' ' || encode(head_hash, 'hex') FROM streams WHERE posting_id = 'p-old'")
            let parts = head.split(separator: " ")
            let version = Int64(parts[0])! + 1, prev = Hex.decode(String(parts[1]))!
            let event = e.applied("s-old")
            let position = Int64(try await ledger.text("SELECT (max(position) + 1)::text FROM events"))!
            let hash = EventHash.compute(event: event, version: version, position: position, recordedAt: event.occurredAt, prevHash: prev)
            try await ledger.asOwner { connection in
                try await connection.run(
                    """
                    INSERT INTO events (position, id, posting_id, version, type, occurred_at, recorded_at, actor, data, prev_hash, hash)
                    VALUES (\(position), \(event.id)::uuid, 'p-old', \(version), 'applied',
                            to_timestamp(0) + (\(event.occurredAt.microseconds)::text || ' microseconds')::interval,
                            to_timestamp(0) + (\(event.occurredAt.microseconds)::text || ' microseconds')::interval,
                            \(event.actor), \(event.data.json.canonicalString)::jsonb, decode(\(Hex.encode(prev)), 'hex'), decode(\(Hex.encode(hash)), 'hex'))
                    """, logger: TestCluster.logger)
            }
            #expect(try await ledger.text("SELECT hash_format::text FROM events WHERE position = \(position)") == "1")
            _ = try await ledger.seal()
            let reply = try await client.call(.get, "/v1/placements/p-old/s-1/proof", key: f.platform)
            #expect(reply.status == .conflict && reply.json.errorCode == "not_provable", "\(reply.json)")
            #expect(reply.json["error"]?["message"].map { "\($0)".contains("hash format 1") } == true)
        }
    }
}
