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
    let client: PostgresClient
    let logger: Logger
    static let sealLockKey: Int64 = 0x504C_5345_414C  // "PLSEAL"
    static let batchSize = 5000

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: Seals

    public func seals(on connection: PostgresConnection) async throws -> [Seal] {
        let rows = try await connection.run(
            """
            SELECT sequence, upto_position, event_count, encode(events_digest, 'hex'), encode(prev_digest, 'hex'),
                   encode(digest, 'hex')
            FROM seals ORDER BY sequence
            """, logger: logger)
        var seals: [Seal] = []
        for try await (sequence, upto, count, eventsHex, prevHex, digestHex) in rows.decode(
            (Int64, Int64, Int64, String, String, String).self)
        {
            var seal = Seal(
                sequence: sequence, uptoPosition: upto, eventCount: count, eventsDigest: Hex.decode(eventsHex) ?? [],
                prevDigest: Hex.decode(prevHex) ?? [])
            seal.digest = Hex.decode(digestHex) ?? []  // as stored: verify recomputes and compares
            seals.append(seal)
        }
        return seals
    }

    public func latestSeal() async throws -> Seal? {
        try await client.withConnection { try await self.seals(on: $0).last }
    }

    /// Seals every event up to the gap-free horizon that no seal covers yet. Returns the new seal,
    /// or nil when there was nothing new to seal.
    public func seal() async throws -> Seal? {
        try await client.withConnection { connection in
            try await connection.transaction(logger: logger) { () -> Seal? in
                try await connection.run("SELECT pg_advisory_xact_lock(\(Self.sealLockKey))", logger: logger)
                let previous = try await seals(on: connection).last
                let bound = try await settledBound(on: connection)
                var accumulator = SealAccumulator(after: previous?.uptoPosition ?? 0)
                var after = previous?.uptoPosition ?? 0
                while true {
                    let rows = try await connection.run(
                        """
                        SELECT position, encode(hash, 'hex') FROM events
                        WHERE position > \(after) AND position < \(bound) ORDER BY position LIMIT \(Self.batchSize)
                        """, logger: logger)
                    var n = 0
                    for try await (position, hashHex) in rows.decode((Int64, String).self) {
                        accumulator.add(position: position, hash: Hex.decode(hashHex) ?? [])
                        after = position
                        n += 1
                    }
                    if n < Self.batchSize { break }
                }
                guard accumulator.count > 0 else { return nil }
                let seal = Seal(
                    sequence: (previous?.sequence ?? 0) + 1, uptoPosition: accumulator.lastPosition,
                    eventCount: accumulator.count, eventsDigest: accumulator.finalize(), prevDigest: previous?.digest ?? [])
                try await connection.run(
                    """
                    INSERT INTO seals (sequence, upto_position, event_count, events_digest, prev_digest, digest)
                    VALUES (\(seal.sequence), \(seal.uptoPosition), \(seal.eventCount),
                            decode(\(Hex.encode(seal.eventsDigest)), 'hex'), decode(\(Hex.encode(seal.prevDigest)), 'hex'),
                            decode(\(Hex.encode(seal.digest)), 'hex'))
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
        // The seal chain itself.
        var previousDigest: [UInt8] = []
        for seal in seals {
            let recomputed = Seal.digest(
                sequence: seal.sequence, uptoPosition: seal.uptoPosition, eventCount: seal.eventCount,
                eventsDigest: seal.eventsDigest, prevDigest: seal.prevDigest)
            if recomputed != seal.digest || seal.prevDigest != previousDigest {
                report.problems.append(
                    .init(position: seal.uptoPosition, message: "seal #\(seal.sequence) was altered (its digest or link to the previous seal does not match)"))
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
        let coveredSeals = seals.filter { $0.uptoPosition <= limit }

        var heads: [String: Head] = [:]
        var sealIndex = 0
        var accumulator = SealAccumulator(after: 0)
        var after: Int64 = 0
        func closeSeal(_ seal: Seal, _ accumulator: SealAccumulator, into report: inout VerifyReport) {
            if accumulator.count != seal.eventCount || accumulator.finalize() != seal.eventsDigest {
                let what =
                    accumulator.count < seal.eventCount
                    ? "\(seal.eventCount - accumulator.count) sealed event(s) are missing"
                    : accumulator.count > seal.eventCount
                        ? "\(accumulator.count - seal.eventCount) event(s) were inserted" : "sealed events were changed or reordered"
                report.problems.append(
                    .init(position: seal.uptoPosition, message: "seal #\(seal.sequence) (events up to position \(seal.uptoPosition)) does not match: \(what) at or below this position"))
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
                    continue
                }
                accumulator.add(position: position, hash: event.hash)
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
                if !EventHash.verify(event) {
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
