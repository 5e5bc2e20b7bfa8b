import Foundation
import LedgerCore
@testable import LedgerStore
import PostgresNIO
import Testing

/// Signed Merkle seals (format 2) on the real store: their root is RFC 9162's over every event's
/// hash, tiles are stored and checked, signatures are checked against the published keys, and
/// the linear seals made before them keep verifying.
@Suite("Merkle seals")
struct MerkleSealTests {
    /// `count` events (postings with placements) appended in batches.
    static func append(_ ledger: TestLedger, postings: Range<Int>) async throws {
        var batch: [Event] = []
        for n in postings {
            var e = Events("p-merkle-\(n)")
            batch += e.placement("s-\(n)") + [e.applied("t-\(n)")]
        }
        _ = try await ledger.store.append(batch)
    }

    static func leafHashes(_ ledger: TestLedger) async throws -> [Merkle.Hash] {
        try await ledger.asOwner { connection in
            var leaves: [Merkle.Hash] = []
            for try await hash in try await connection.run("SELECT hash FROM events ORDER BY position", logger: TestCluster.logger).decode(ByteBuffer.self) {
                leaves.append(Merkle.leafHash(hash.readableBytesView))
            }
            return leaves
        }
    }

    @Test("a seal's root is the RFC 9162 root of every event so far; tiles of 256 are stored; the next seal extends the tree")
    func rootsAndTiles() async throws {
        try await TestLedger.with { ledger in
            try await Self.append(ledger, postings: 0..<150)  // 600 events
            let first = try #require(try await ledger.seal()?.signed)
            var leaves = try await Self.leafHashes(ledger)
            #expect(leaves.count == 600)
            #expect(first.treeSize == 600 && first.root == Merkle.root(leafHashes: leaves[...]) && first.previous == nil)
            #expect(first.hasValidSignature(publicKey: TestLedger.sealKey.publicKey))
            #expect(try await ledger.count("SELECT count(*) FROM merkle_tiles") == 2)
            try await Self.append(ledger, postings: 150..<200)
            let second = try #require(try await ledger.seal()?.signed)
            leaves = try await Self.leafHashes(ledger)
            #expect(second.treeSize == 800 && second.root == Merkle.root(leafHashes: leaves[...]))
            #expect(second.previous == first.digest)
            #expect(try await ledger.count("SELECT count(*) FROM merkle_tiles") == 3)
            // The second tree extends the first (RFC 9162 consistency, from the whole tree here).
            let nodes = MerkleNodes(leaves: Dictionary(uniqueKeysWithValues: leaves.enumerated().map { ($0.offset, $0.element) }))
            let proof = try Merkle.consistencyProof(from: 600, to: 800, nodes: nodes)
            #expect(Merkle.verifyConsistency(first: 600, second: 800, firstRoot: first.root, secondRoot: second.root, proof: proof))
            let report = try await ledger.integrity.verify()
            #expect(report.ok, "\(report.problems.prefix(3))")
            #expect(report.sealsChecked == 2)
            #expect(try await ledger.integrity.verify(digest: first.digest).ok)
        }
    }

    @Test("linear seals made before the Merkle seals keep verifying, and the first Merkle seal names the last of them")
    func oldSealsKeepVerifying() async throws {
        try await TestLedger.with { ledger in
            try await Self.append(ledger, postings: 0..<10)
            // A format 1 seal as the code before signed seals made it.
            let rows: [(Int64, [UInt8])] = try await ledger.asOwner { connection in
                var rows: [(Int64, [UInt8])] = []
                for try await (position, hash) in try await connection.run("SELECT position, hash FROM events ORDER BY position", logger: TestCluster.logger)
                    .decode((Int64, ByteBuffer).self)
                {
                    rows.append((position, Array(hash.readableBytesView)))
                }
                return rows
            }
            var accumulator = SealAccumulator(after: 0)
            for (position, hash) in rows { accumulator.add(position: position, hash: hash) }
            let old = Seal(sequence: 1, uptoPosition: accumulator.lastPosition, eventCount: accumulator.count, eventsDigest: accumulator.finalize(), prevDigest: [])
            try await ledger.exec(
                """
                INSERT INTO seals (sequence, upto_position, event_count, events_digest, prev_digest, digest)
                VALUES (1, \(old.uptoPosition), \(old.eventCount), decode('\(Hex.encode(old.eventsDigest))', 'hex'), ''::bytea,
                        decode('\(Hex.encode(old.digest))', 'hex'))
                """)
            try await Self.append(ledger, postings: 10..<12)
            let seal = try #require(try await ledger.seal())
            #expect(seal.formatNumber == 2 && seal.sequence == 2 && seal.prevDigest == old.digest && seal.eventCount == 8)
            #expect(seal.signed?.treeSize == 48)
            let report = try await ledger.integrity.verify()
            #expect(report.ok, "\(report.problems.prefix(3))")
            #expect(report.sealsChecked == 2)
            // The old seal still catches a deleted event, and so does the Merkle seal after it.
            try await TamperTests.tamper(ledger, "DELETE FROM events WHERE position = \(rows[3].0)")
            let tampered = try await ledger.integrity.verify()
            #expect(tampered.problems.contains { $0.message.contains("seal #1") })
            #expect(tampered.problems.contains { $0.message.contains("seal #2") }, "the Merkle tree covers every event from the first")
        }
    }

    @Test("a seal signed by an unpublished key, a forged signature and a changed tile are found")
    func forgeries() async throws {
        try await TestLedger.with { ledger in
            try await Self.append(ledger, postings: 0..<70)  // 280 events: one tile
            let genuine = try #require(try await ledger.seal())
            try await Self.append(ledger, postings: 70..<71)
            // A seal made with a key of the forger's own (valid signature, unpublished key).
            let leaves = try await Self.leafHashes(ledger)
            let forger = SealSigningKey()
            let forged = try SignedSeal(
                sequence: 2, treeSize: Int64(leaves.count), uptoPosition: try await ledger.count("SELECT max(position) FROM events"),
                root: Merkle.root(leafHashes: leaves[...]), previous: genuine.digest, sealedAt: Timestamp(microseconds: 1_800_000_000_000_000),
                keyID: forger.id
            ).signed(with: forger)
            func insert(_ seal: SignedSeal) async throws {
                try await ledger.exec(
                    """
                    INSERT INTO seals (sequence, upto_position, event_count, events_digest, prev_digest, digest, created_at, format, tree_size, key_id, signature)
                    VALUES (\(seal.sequence), \(seal.uptoPosition), 4, decode('\(Hex.encode(seal.root))', 'hex'), decode('\(Hex.encode(seal.previous!))', 'hex'),
                            decode('\(Hex.encode(seal.digest))', 'hex'), to_timestamp(0) + '\(seal.sealedAt.microseconds) microseconds'::interval, 2,
                            \(seal.treeSize), '\(seal.keyID)', decode('\(Hex.encode(seal.signature))', 'hex'))
                    """)
            }
            try await insert(forged)
            var report = try await ledger.integrity.verify()
            #expect(report.problems.contains { $0.message.contains("names signing key \(forger.id), which seal_keys does not list") }, "\(report.problems)")
            // The same seal claiming the published key: its signature is not that key's.
            try await TamperTests.tamper(ledger, "DELETE FROM seals WHERE sequence = 2")
            var claimed = forged
            claimed.keyID = TestLedger.sealKey.id
            claimed.signature = try forged.signed(with: forger).signature
            try await insert(claimed)
            report = try await ledger.integrity.verify()
            #expect(report.problems.contains { $0.message.contains("seal #2's signature was not made by key") }, "\(report.problems)")
            try await TamperTests.tamper(ledger, "DELETE FROM seals WHERE sequence = 2")
            #expect(try await ledger.integrity.verify().ok)
            // A tile's stored root changed.
            try await ledger.exec(
                """
                ALTER TABLE merkle_tiles DISABLE TRIGGER merkle_tiles_append_only;
                UPDATE merkle_tiles SET root = sha256(root) WHERE tile = 0;
                ALTER TABLE merkle_tiles ENABLE TRIGGER merkle_tiles_append_only
                """)
            report = try await ledger.integrity.verify()
            #expect(report.problems.contains { $0.message.contains("Merkle tile 0") }, "\(report.problems)")
        }
    }

    @Test("signing needs a published, unretired key whose file only its owner can read; each refusal names what to do")
    func signingKeys() async throws {
        try await TestLedger.with { ledger in
            let integrity = ledger.integrity
            func refusal(_ keyring: SealKeyring?) async -> String? {
                do {
                    _ = try await integrity.signer(from: keyring)
                    return nil
                } catch {
                    return (error as? SealKeyError)?.message ?? "\(error)"
                }
            }
            #expect(await refusal(nil)?.contains("--seal-keys DIR") == true)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seal-keys-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let keyring = SealKeyring(directory: directory)
            #expect(await refusal(keyring)?.contains("placementctl seal-keys create --seal-keys \(directory)") == true)
            let key = try await ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                try await keyring.create(owner: owner, logger: TestCluster.logger)
            }
            #expect(try await integrity.signer(from: keyring).id == key.id)
            // A key file others may read is refused, saying how to fix it.
            let file = directory + "/" + key.id + ".ed25519"
            chmod(file, 0o644)
            #expect(await refusal(keyring)?.contains("chmod 600 \(file)") == true)
            chmod(file, 0o600)
            #expect(await refusal(keyring) == nil)
            // A retired key signs no more, and stays listed.
            let retire = { (id: String) in
                try await ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                    try await SealKeyring.retire(id, owner: owner, logger: TestCluster.logger)
                }
            }
            #expect(try await retire(key.id))
            #expect(try await retire(key.id) == false, "retired already")
            #expect(try await retire("sk-0000000000000000") == false, "no such key")
            #expect(await refusal(keyring)?.contains("no unretired seal key") == true)
            let listed = try await ledger.asOwner { try await integrity.sealKeys(on: $0) }
            #expect(listed.map(\.id) == [key.id] && listed[0].retiredAt != nil)
        }
    }
}
