import Foundation
public import LedgerCore
public import Logging
public import PostgresNIO

/// What `verify` found.
public struct VerifyReport: Sendable {
    public struct Problem: Sendable, CustomStringConvertible {
        public var position: Int64
        public var message: String
        public var description: String { "position \(position): \(message)" }
    }

    public var eventsChecked: Int64 = 0
    public var streamsChecked = 0
    public var sealsChecked = 0
    public var lastPosition: Int64 = 0
    /// Every problem found, lowest position first.
    public var problems: [Problem] = []
    /// With `--digest`: the seal that digest names.
    public var targetSeal: Seal?

    public var ok: Bool { problems.isEmpty }
    public var firstProblem: Problem? { problems.min { $0.position < $1.position } }
}

/// Tamper evidence on the stored log: verification that re-hashes every stored event from its
/// columns (never trusting derived data), and seals.
public struct Integrity: Sendable {
    let client: any DatabaseClient
    let logger: Logger
    static let sealLockKey: Int64 = 0x504C_5345_414C  // "PLSEAL"
    static let batchSize = 5000

    public init(client: any DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: Seals

    /// Which seals `seals(on:_:)` reads.
    public enum SealSelection: Sendable {
        case all
        /// The one with this number.
        case number(Int64)
        /// The latest seal.
        case latest
        /// The latest signed (format 2) seal.
        case latestSigned
    }

    /// Every seal in number order.
    public func seals(on connection: PostgresConnection) async throws -> [Seal] { try await seals(on: connection, .all) }

    /// The seals `selection` names, in number order: an index lookup for one seal, so the public
    /// seal routes never read the whole (ever-growing) table.
    public func seals(on connection: PostgresConnection, _ selection: SealSelection) async throws -> [Seal] {
        var query: PostgresQuery = """
            SELECT sequence, upto_position, event_count, encode(events_digest, 'hex'), encode(prev_digest, 'hex'),
                   encode(digest, 'hex'), format, tree_size, key_id, encode(signature, 'base64'),
                   (extract(epoch FROM created_at) * 1000000)::int8
            FROM seals
            """
        switch selection {
        case .all: query.sql += " ORDER BY sequence"
        case .number(let n):
            query.sql += " WHERE sequence = $1"
            query.binds.append(n)
        case .latest: query.sql += " ORDER BY sequence DESC LIMIT 1"
        case .latestSigned: query.sql += " WHERE format = 2 ORDER BY sequence DESC LIMIT 1"
        }
        let rows = try await connection.run(query, logger: logger)
        var seals: [Seal] = []
        for try await (sequence, upto, count, eventsHex, prevHex, digestHex, format, treeSize, keyID, signature, createdAt) in rows.decode(
            (Int64, Int64, Int64, String, String, String, Int16, Int64?, String?, String?, Int64).self)
        {
            var seal: Seal
            if format == 2, let treeSize, let keyID, let signature {
                let prev = Hex.decode(prevHex) ?? []
                seal = Seal(
                    signed: SignedSeal(
                        sequence: sequence, treeSize: treeSize, uptoPosition: upto, root: Hex.decode(eventsHex) ?? [],
                        previous: prev.isEmpty ? nil : prev, sealedAt: Timestamp(microseconds: createdAt), keyID: keyID,
                        signature: Array(Data(base64Encoded: signature.filter { !$0.isWhitespace }) ?? Data())),
                    eventCount: count)
            } else {
                seal = Seal(
                    sequence: sequence, uptoPosition: upto, eventCount: count, eventsDigest: Hex.decode(eventsHex) ?? [],
                    prevDigest: Hex.decode(prevHex) ?? [])
            }
            seal.digest = Hex.decode(digestHex) ?? []  // as stored: verify recomputes and compares
            seals.append(seal)
        }
        return seals
    }

    /// The public seal keys, oldest first.
    public func sealKeys(on connection: PostgresConnection) async throws -> [PublishedSealKey] {
        var keys: [PublishedSealKey] = []
        let rows = try await connection.run(
            """
            SELECT key_id, encode(public_key, 'hex'), (extract(epoch FROM created_at) * 1000000)::int8,
                   (extract(epoch FROM retired_at) * 1000000)::int8
            FROM seal_keys ORDER BY created_at, key_id
            """, logger: logger)
        for try await (id, publicHex, created, retired) in rows.decode((String, String, Int64, Int64?).self) {
            keys.append(
                PublishedSealKey(
                    id: id, publicKey: Hex.decode(publicHex) ?? [], createdAt: Timestamp(microseconds: created),
                    retiredAt: retired.map(Timestamp.init(microseconds:))))
        }
        return keys
    }

    public func latestSeal() async throws -> Seal? {
        try await client.withConnection { try await self.seals(on: $0, .latest).first }
    }

    /// Seals every event up to the gap-free horizon that no seal covers yet: a signed seal of the
    /// Merkle tree of every event so far (format 2), writing the roots of the tiles completed on
    /// the way. Returns the new seal, or nil when there was nothing new to seal.
    public func seal(signer: SealSigningKey) async throws -> Seal? {
        try await client.withConnection { connection in
            try await connection.transaction(logger: logger) { () -> Seal? in
                try await connection.run("SELECT pg_advisory_xact_lock(\(Self.sealLockKey))", logger: logger)
                let previous = try await seals(on: connection, .latest).first
                let bound = try await settledBound(on: connection)
                let sealedUpTo = previous?.uptoPosition ?? 0
                // The tiles so far, then every event after the last of them (the partial tile, and
                // the new events), tiling as it goes.
                var tileRoots: [Merkle.Hash] = []
                var tilesEnd: Int64 = 0
                for try await (root, last) in try await connection.run(
                    "SELECT encode(root, 'hex'), last_position FROM merkle_tiles ORDER BY tile", logger: logger
                ).decode((String, Int64).self) {
                    tileRoots.append(Hex.decode(root) ?? [])
                    tilesEnd = last
                }
                var partial: [(position: Int64, leaf: Merkle.Hash)] = []
                var newTiles: [(tile: Int64, first: Int64, last: Int64, root: Merkle.Hash)] = []
                var added: Int64 = 0
                var after = tilesEnd
                var lastPosition = sealedUpTo
                while true {
                    var n = 0
                    for try await (position, hash) in try await connection.run(
                        """
                        SELECT position, hash FROM events
                        WHERE position > \(after) AND position < \(bound) ORDER BY position LIMIT \(Self.batchSize)
                        """, logger: logger
                    ).decode((Int64, ByteBuffer).self) {
                        n += 1
                        after = position
                        if position > sealedUpTo { added += 1 }
                        lastPosition = max(lastPosition, position)
                        partial.append((position, Merkle.leafHash(hash.readableBytesView)))
                        if partial.count == Merkle.tileSize {
                            let root = Merkle.root(leafHashes: partial.map(\.leaf)[...])
                            newTiles.append((Int64(tileRoots.count), partial[0].position, position, root))
                            tileRoots.append(root)
                            partial.removeAll(keepingCapacity: true)
                        }
                    }
                    if n < Self.batchSize { break }
                }
                guard added > 0 else { return nil }
                let treeSize = tileRoots.count * Merkle.tileSize + partial.count
                let base = tileRoots.count * Merkle.tileSize
                let nodes = MerkleNodes(
                    tileRoots: tileRoots, leaves: Dictionary(uniqueKeysWithValues: partial.enumerated().map { (base + $0.offset, $0.element.leaf) }))
                let root = try nodes.root(of: 0..<treeSize)
                let now = Timestamp(microseconds: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded(.down)))
                let signed = try SignedSeal(
                    sequence: (previous?.sequence ?? 0) + 1, treeSize: Int64(treeSize), uptoPosition: lastPosition, root: root,
                    previous: previous?.digest, sealedAt: now, keyID: signer.id
                ).signed(with: signer)
                let seal = Seal(signed: signed, eventCount: added)
                if !newTiles.isEmpty {
                    try await connection.run(
                        """
                        INSERT INTO merkle_tiles (tile, first_position, last_position, root)
                        SELECT t, f, l, decode(r, 'hex')
                        FROM unnest(\(newTiles.map(\.tile))::int8[], \(newTiles.map(\.first))::int8[], \(newTiles.map(\.last))::int8[],
                                    \(newTiles.map { Hex.encode($0.root) })::text[]) AS x(t, f, l, r)
                        """, logger: logger)
                }
                try await connection.run(
                    """
                    INSERT INTO seals (sequence, upto_position, event_count, events_digest, prev_digest, digest, created_at, format, tree_size,
                                       key_id, signature)
                    VALUES (\(seal.sequence), \(seal.uptoPosition), \(seal.eventCount),
                            decode(\(Hex.encode(seal.eventsDigest)), 'hex'), decode(\(Hex.encode(seal.prevDigest)), 'hex'),
                            decode(\(Hex.encode(seal.digest)), 'hex'),
                            to_timestamp(0) + (\(now.microseconds)::text || ' microseconds')::interval, 2, \(Int64(treeSize)),
                            \(signer.id), decode(\(Hex.encode(signed.signature)), 'hex'))
                    """, logger: logger)
                return seal
            }
        }
    }

    /// The gap-free bound, after waiting (up to `patience`) for the transactions still open when the
    /// seal started to finish, so that a seal right after an append covers that append.
    func settledBound(on connection: PostgresConnection, patience: Duration = .seconds(10)) async throws -> Int64 {
        var committed: Int64 = 0
        for try await value in try await connection.run("SELECT COALESCE(max(position), 0) FROM events", logger: logger).decode(Int64.self) {
            committed = value
        }
        let deadline = ContinuousClock.now + patience
        while true {
            let bound = try await horizonBound(on: connection)
            if bound > committed || ContinuousClock.now > deadline { return bound }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func horizonBound(on connection: PostgresConnection) async throws -> Int64 {
        let rows = try await connection.run(
            "SELECT \(unescaped: gapFreeBound)",
            logger: logger)
        for try await bound in rows.decode(Int64.self) { return bound }
        return 0
    }

    // MARK: Verify

    /// Re-reads every stored event in position order and checks: each row parses, each hash equals
    /// the hash recomputed from the row's own columns, each stream's versions run 1, 2, 3… in
    /// position order with each event chained to the one before, each seal matches the events it
    /// covers and the seal before it, and each stream's recorded head is really its last event.
    /// With `digest`, also that a seal with that digest is part of the verified chain.
    public func verify(digest: [UInt8]? = nil, progress: (@Sendable (Int64) -> Void)? = nil) async throws -> VerifyReport {
        try await client.withConnection { connection in
            // One consistent snapshot for the whole walk.
            try await connection.transaction(.snapshot, logger: logger) {
                try await verify(on: connection, digest: digest, progress: progress)
            }
        }
    }

    private struct Head {
        var version: Int64 = 0
        var hash: [UInt8] = []
        var position: Int64 = 0
    }

    private func verify(
        on connection: PostgresConnection, digest: [UInt8]?, progress: (@Sendable (Int64) -> Void)?
    ) async throws -> VerifyReport {
        var report = VerifyReport()
        let seals = try await seals(on: connection)
        // The seal chain itself, and the signatures of format 2 seals.
        let keys = Dictionary(try await sealKeys(on: connection).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var previousDigest: [UInt8] = []
        for seal in seals {
            let recomputed =
                seal.signed?.digest
                ?? Seal.digest(
                    sequence: seal.sequence, uptoPosition: seal.uptoPosition, eventCount: seal.eventCount,
                    eventsDigest: seal.eventsDigest, prevDigest: seal.prevDigest)
            if recomputed != seal.digest || seal.prevDigest != previousDigest {
                report.problems.append(
                    .init(position: seal.uptoPosition, message: "seal #\(seal.sequence) was altered (its digest or link to the previous seal does not match)"))
            } else if let signed = seal.signed {
                if let key = keys[signed.keyID] {
                    if !signed.hasValidSignature(publicKey: key.publicKey) {
                        report.problems.append(
                            .init(position: seal.uptoPosition, message: "seal #\(seal.sequence)'s signature was not made by key \(signed.keyID)"))
                    }
                } else {
                    report.problems.append(
                        .init(position: seal.uptoPosition, message: "seal #\(seal.sequence) names signing key \(signed.keyID), which seal_keys does not list"))
                }
            }
            previousDigest = seal.digest
        }
        if let digest {
            guard let target = seals.first(where: { $0.digest == digest }) else {
                report.problems.append(
                    .init(position: 0, message: "no seal has digest \(Hex.encode(digest)): the sealed history was rewritten, or the digest is mistyped"))
                return report
            }
            report.targetSeal = target
        }
        let limit = report.targetSeal?.uptoPosition ?? Int64.max
        let proofKey = try await ProofKey.load(on: connection, logger: logger)
        let coveredSeals = seals.filter { $0.uptoPosition <= limit }

        var heads: [String: Head] = [:]
        var sealIndex = 0
        var accumulator = SealAccumulator(after: 0)
        var after: Int64 = 0
        // The Merkle tree of every event walked so far, and the stored tiles it must agree with.
        var tree = MerkleFrontier()
        var tile: [(position: Int64, leaf: Merkle.Hash)] = []
        var tiles: [Int64: (first: Int64, last: Int64, root: String)] = [:]
        for try await (index, first, last, root) in try await connection.run(
            "SELECT tile, first_position, last_position, encode(root, 'hex') FROM merkle_tiles", logger: logger
        ).decode((Int64, Int64, Int64, String).self) {
            tiles[index] = (first, last, root)
        }
        func addLeaf(_ position: Int64, _ hash: [UInt8]) {
            let leaf = Merkle.leafHash(hash)
            tree.append(leafHash: leaf)
            tile.append((position, leaf))
            guard tile.count == Merkle.tileSize else { return }
            let index = tree.count / Int64(Merkle.tileSize) - 1
            if let stored = tiles[index],
                stored.first != tile[0].position || stored.last != position
                    || stored.root != Hex.encode(Merkle.root(leafHashes: tile.map(\.leaf)[...]))
            {
                report.problems.append(
                    .init(position: position, message: "Merkle tile \(index) (the 256 events up to this position) does not match its stored root"))
            }
            tile.removeAll(keepingCapacity: true)
        }
        func closeSeal(_ seal: Seal, _ accumulator: SealAccumulator, into report: inout VerifyReport) {
            // Format 2 commits to the tree of every event so far, format 1 to this seal's own events.
            let (found, expected, matches, covers): (Int64, Int64, Bool, String) =
                if let signed = seal.signed {
                    (tree.count, signed.treeSize, accumulator.count == seal.eventCount && tree.count == signed.treeSize && tree.root == signed.root,
                     "the Merkle tree of the events")
                } else {
                    (accumulator.count, seal.eventCount, accumulator.count == seal.eventCount && accumulator.finalize() == seal.eventsDigest, "events")
                }
            if !matches {
                let what =
                    found < expected
                    ? "\(expected - found) sealed event(s) are missing"
                    : found > expected ? "\(found - expected) event(s) were inserted" : "sealed events were changed or reordered"
                report.problems.append(
                    .init(position: seal.uptoPosition, message: "seal #\(seal.sequence) (\(covers) up to position \(seal.uptoPosition)) does not match: \(what) at or below this position"))
            }
            report.sealsChecked += 1
        }
        scan: while true {
            let rows = try await connection.run(
                """
                SELECT \(unescaped: eventColumns) FROM events
                WHERE position > \(after) AND position <= \(limit) ORDER BY position LIMIT \(Self.batchSize)
                """, logger: logger)
            var n = 0
            for try await row in rows {
                n += 1
                let position = try row.makeRandomAccess()[0].decode(Int64.self)
                after = position
                while sealIndex < coveredSeals.count, position > coveredSeals[sealIndex].uptoPosition {
                    closeSeal(coveredSeals[sealIndex], accumulator, into: &report)
                    accumulator = SealAccumulator(after: coveredSeals[sealIndex].uptoPosition)
                    sealIndex += 1
                }
                report.eventsChecked += 1
                report.lastPosition = position
                let event: RecordedEvent
                do {
                    event = try decodeRecorded(row)
                } catch {
                    report.problems.append(.init(position: position, message: "the stored event is unreadable: \(error)"))
                    accumulator.add(position: position, hash: [])
                    addLeaf(position, [])
                    continue
                }
                accumulator.add(position: position, hash: event.hash)
                addLeaf(position, event.hash)
                let posting = event.event.postingID
                let head = heads[posting] ?? Head()
                if event.version != head.version + 1 {
                    let message =
                        event.version <= head.version
                        ? "posting \(posting) version \(event.version) appears again or out of order (after version \(head.version))"
                        : "posting \(posting) jumps from version \(head.version) to \(event.version): events were deleted"
                    report.problems.append(.init(position: position, message: message))
                } else if event.prevHash != head.hash {
                    report.problems.append(
                        .init(position: position, message: "posting \(posting) version \(event.version) is not chained to the event before it"))
                }
                if !EventHash.verify(event, key: proofKey) {
                    report.problems.append(
                        .init(position: position, message: "the event's content does not match its hash: it was modified after it was recorded"))
                }
                heads[posting] = Head(version: event.version, hash: event.hash, position: position)
                if report.eventsChecked % 50_000 == 0 { progress?(report.eventsChecked) }
            }
            if n < Self.batchSize { break scan }
        }
        while sealIndex < coveredSeals.count {
            closeSeal(coveredSeals[sealIndex], accumulator, into: &report)
            accumulator = SealAccumulator(after: coveredSeals[sealIndex].uptoPosition)
            sealIndex += 1
        }
        report.streamsChecked = heads.count
        // Stream heads recorded at append time reveal a truncated tail that no seal covers yet.
        if report.targetSeal == nil {
            let rows = try await connection.run(
                "SELECT posting_id, version, head_position, encode(head_hash, 'hex') FROM streams", logger: logger)
            for try await (posting, version, position, hashHex) in rows.decode((String, Int64, Int64, String).self) {
                let head = heads[posting] ?? Head()
                if head.version < version {
                    report.problems.append(
                        .init(position: position, message: "posting \(posting) ends at version \(head.version) but version \(version) was recorded: events at the end of the stream were deleted"))
                } else if head.version == version, Hex.encode(head.hash) != hashHex {
                    report.problems.append(
                        .init(position: head.position, message: "posting \(posting)'s last event differs from the one recorded"))
                }
            }
        }
        report.problems.sort { $0.position < $1.position }
        return report
    }
}
