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
