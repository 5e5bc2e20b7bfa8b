public import LedgerCore
public import PostgresNIO

/// What auditors read without a key: signed seals, the public keys, and proofs computed from the
/// stored tiles and at most a few tiles' events.
extension Integrity {
    /// Seal `sequence`, or the latest signed seal when nil. Throws `not_found` for an unknown seal
    /// or one made before signed seals (format 1).
    public func signedSeal(_ sequence: Int64?, on connection: PostgresConnection) async throws -> SignedSeal {
        guard let sequence else {
            guard let latest = try await seals(on: connection, .latestSigned).first?.signed else {
                throw LedgerError(.notFound, "no signed seal yet: the daemon seals on its interval, or run `placementctl seal`")
            }
            return latest
        }
        guard let seal = try await seals(on: connection, .number(sequence)).first else {
            let latest = try await seals(on: connection, .latest).first
            throw LedgerError(.notFound, "no seal \(sequence)" + (latest.map { " (the latest is \($0.sequence))" } ?? " (none yet)"))
        }
        guard let signed = seal.signed else {
            throw LedgerError(
                .notFound, "seal \(sequence) was made before signed Merkle seals (a linear digest, format 1): `placementctl verify` checks it")
        }
        return signed
    }

    /// The RFC 9162 consistency proof that seal `to`'s tree extends seal `from`'s.
    public func consistency(from: Int64, to: Int64, on connection: PostgresConnection) async throws -> (SignedSeal, SignedSeal, [Merkle.Hash]) {
        guard from <= to else { throw LedgerError(.invalidField, "from must not be greater than to", field: "from") }
        let first = try await signedSeal(from, on: connection)
        let second = try await signedSeal(to, on: connection)
        let (m, n) = (Int(first.treeSize), Int(second.treeSize))
        let nodes = try await merkleNodes(treeSize: n, touching: [m - 1, m], on: connection)
        return (first, second, try Merkle.consistencyProof(from: m, to: n, nodes: nodes))
    }

    /// What proofs in the tree of `treeSize` leaves need: the roots of its complete tiles, and the
    /// leaves of the tiles holding `leaves` and of its last tile.
    public func merkleNodes(treeSize: Int, touching leaves: [Int], on connection: PostgresConnection) async throws -> MerkleNodes {
        let size = Merkle.tileSize
        let complete = treeSize / size
        var nodes = MerkleNodes()
        var ends: [Int64] = []  // each stored tile's last position
        for try await (root, last) in try await connection.run(
            "SELECT encode(root, 'hex'), last_position FROM merkle_tiles ORDER BY tile", logger: logger
        ).decode((String, Int64).self) {
            if nodes.tileRoots.count < complete { nodes.tileRoots.append(Hex.decode(root) ?? []) }
            ends.append(last)
        }
        let tiles = Set((leaves + [treeSize - 1]).filter { $0 >= 0 && $0 < treeSize }.map { $0 / size })
        for tile in tiles.sorted() {
            guard tile == 0 || tile - 1 < ends.count else {
                throw LedgerError(.unavailable, "the Merkle tiles below leaf \(tile * size) are not stored yet; retry after the next seal")
            }
            let after = tile == 0 ? 0 : ends[tile - 1]
            let count = min(size, treeSize - tile * size)
            var index = tile * size
            for try await hash in try await connection.run(
                "SELECT hash FROM events WHERE position > \(after) ORDER BY position LIMIT \(count)", logger: logger
            ).decode(ByteBuffer.self) {
                nodes.leaves[index] = Merkle.leafHash(hash.readableBytesView)
                index += 1
            }
        }
        return nodes
    }
}

extension Integrity {
    /// The proof of `studentID`'s placement on `postingID` against the latest signed seal (see
    /// `PlacementProof`). Throws `not_sealed` (409) when no signed seal covers the placement yet, and
    /// `not_provable` (409) when the posting holds another student's event recorded before hash
    /// format 2 (it cannot be withheld). The caller checks that the placement is in the reader's scope.
    public func placementProof(
        postingID: String, studentID: String, signer: SealSigningKey, on connection: PostgresConnection
    ) async throws -> PlacementProof {
        guard let seal = try await seals(on: connection, .latestSigned).first?.signed else {
            throw LedgerError(.notSealed, "nothing is sealed yet: wait for the daemon's next seal, or run `placementctl seal`")
        }
        let key = try await ProofKey.load(on: connection, logger: logger)
        var stream: [RecordedEvent] = []
        for try await row in try await connection.run(
            """
            SELECT \(unescaped: eventColumns) FROM events
            WHERE posting_id = \(postingID) AND position <= \(seal.uptoPosition) ORDER BY version
            """, logger: logger)
        {
            stream.append(try decodeRecorded(row))
        }
        var state = PostingState(postingID: postingID)
        for event in stream { state.evolve(event.event) }
        guard let row = PlacementRow(posting: state, studentID: studentID), let last = stream.last else {
            throw LedgerError(
                .notSealed,
                "the placement of student \(studentID) on posting \(postingID) is not sealed yet (seal #\(seal.sequence) covers events up to position \(seal.uptoPosition)): wait for the daemon's next seal, or run `placementctl seal`")
        }
        var entries: [PlacementProof.Entry] = []
        entries.reserveCapacity(stream.count)
        for e in stream {
            let student = e.event.data.studentID
            if student == nil || student == studentID {
                entries.append(.disclosed(e, salt: e.hashFormat == PrivateEventHash.format ? key.eventSalt(id: e.event.id) : nil))
                continue
            }
            guard e.hashFormat == PrivateEventHash.format, let other = student else {
                throw LedgerError(
                    .notProvable,
                    "posting \(postingID) holds another student's event recorded before private proofs (hash format 1, version \(e.version)): its content cannot be withheld, so this posting has no private proof")
            }
            let content = PrivateEventHash.contentBytes(event: e.event, data: e.event.data.json.canonicalBytes)
            entries.append(
                .withheld(
                    version: e.version, position: e.position, recordedAt: e.recordedAt,
                    commitment: PrivateEventHash.commitment(content: content, salt: key.eventSalt(id: e.event.id)),
                    subject: PrivateEventHash.subject(studentID: other, salt: key.subjectSalt(postingID: postingID, studentID: other))))
        }
        let leaf = try await leafIndex(of: last.position, on: connection)
        let size = Int(seal.treeSize)
        let nodes = try await merkleNodes(treeSize: size, touching: [leaf], on: connection)
        let head = try SignedStreamHead(postingID: postingID, seal: seal.sequence, version: last.version, eventHash: last.hash).signed(with: signer)
        return PlacementProof(
            postingID: postingID, studentID: studentID, seal: seal, placement: row.json,
            subjectSalt: key.subjectSalt(postingID: postingID, studentID: studentID), entries: entries, leafIndex: Int64(leaf),
            eventHash: last.hash, path: try Merkle.inclusionProof(index: leaf, size: size, nodes: nodes), head: head)
    }

    /// The leaf of the event at `position` in the sealed tree: its tile's first leaf (from the
    /// stored tiles) plus the events before it in that tile, so at most 255 rows are counted.
    public func leafIndex(of position: Int64, on connection: PostgresConnection) async throws -> Int {
        var base: Int64 = 0
        var from: Int64 = 0
        for try await (tile, first, last) in try await connection.run(
            """
            SELECT tile, first_position, last_position FROM merkle_tiles
            WHERE first_position <= \(position) ORDER BY first_position DESC LIMIT 1
            """, logger: logger
        ).decode((Int64, Int64, Int64).self) {
            // In that tile, or after it (in the tree's incomplete last tile).
            (base, from) = position <= last ? (tile * Int64(Merkle.tileSize), first) : ((tile + 1) * Int64(Merkle.tileSize), last + 1)
        }
        var before: Int64 = 0
        for try await n in try await connection.run(
            "SELECT count(*) FROM events WHERE position >= \(from) AND position < \(position)", logger: logger
        ).decode(Int64.self) {
            before = n
        }
        return Int(base + before)
    }
}
