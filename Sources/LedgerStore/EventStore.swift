import Foundation
public import LedgerCore
public import Logging
public import PostgresNIO

/// The event log on PostgreSQL: appends (atomic, idempotent, rule-checked, hash-chained) and reads
/// (streams, the gap-free global feed).
public final class EventStore: Sendable {
    public let client: any DatabaseClient
    public let logger: Logger

    /// The read models every append writes in its own transaction.
    let readModels: any ReadModelWriter

    /// Group commit of API appends.
    let queue: AppendQueue

    /// The streams' states as this process's last appends left them (see `StateCache`).
    let streamStates = StateCache(limit: 4096)

    /// The key new events' hashes are salted with (format 2).
    let proofKeys = ProofKeyCache()

    /// Called after every append transaction commits (the daemon wakes `min_position` waiters).
    let committed: @Sendable () -> Void

    /// `appendGroups` is how many group transactions may run at once (see `AppendQueue`); keep it
    /// below the pool size so reads always find a connection.
    public init(
        client: any DatabaseClient, logger: Logger, readModels: any ReadModelWriter, appendGroups: Int = 4,
        committed: @escaping @Sendable () -> Void = {}
    ) {
        self.client = client
        self.logger = logger
        self.readModels = readModels
        self.queue = AppendQueue(maxGroups: appendGroups)
        self.committed = committed
    }

    /// API appends waiting for a group transaction.
    public var queuedAppends: Int { queue.waiting }
}

/// One caller's batch and, for a company key, the company it must stay within.
struct AppendRequest: Sendable {
    var events: [Event]
    var company: String?
}

extension EventStore {
    /// Groups of at most this many events (every API group: `AppendQueue.maxGroupEvents`) run the
    /// append statements prepared, with their generic plans (parsed and planned once per
    /// connection); larger ones (import chunks) have them planned with their values. Every
    /// statement looks its arrays up element by element (index probes), so the generic plan suits
    /// a group of 2,000 as well as one of 1.
    static let preparedLimit = 2 * BatchLimits.maxEvents

    /// How long a group transaction may take before it is given up.
    static let groupLimit: Duration = .seconds(15)

    /// Appends a batch atomically. Throws `LedgerError` for a rejected batch (atomic mode), other
    /// errors when the database fails. Concurrent atomic appends share transactions (group commit,
    /// see `AppendQueue`); each batch is still all or nothing on its own. Import mode appends in a
    /// transaction of its own.
    ///
    /// `company`: the batch comes from that company's key, and every event must be on one of its
    /// postings (403 otherwise). Checked against the locked streams inside the transaction, so a
    /// posting created for another company a moment earlier cannot slip through.
    public func append(_ events: [Event], mode: AppendMode = .atomic, company: String? = nil) async throws -> AppendOutcome {
        if let company { try await checkOwners(events, company: company) }
        let request = AppendRequest(events: events, company: company)
        guard mode == .atomic else { return try await appendGroup([request], mode: mode)[0].get() }
        let id = queue.makeID()
        switch await queue.turn(id: id, request: request) {
        case .done(let result):
            return try result.get()
        case .lead:
            let followers = queue.takeFollowers(leading: events.count)
            let results: [Result<AppendOutcome, any Error>]
            do {
                // The group always ends, so the leader always hands off: a transaction whose
                // connection died under it is given up (see `abandoning`) and answered as unavailable.
                let requests = [request] + followers.map(\.request)
                results = try await abandoning(after: Self.groupLimit, cancelAfter: Self.groupLimit / 2) {
                    try await self.appendGroup(requests, mode: .atomic)
                }.map { $0.mapError { $0 } }
            } catch is Abandoned {
                logger.error("a group commit did not finish in \(Self.groupLimit); its requests are answered as unavailable")
                let error = LedgerError(
                    .unavailable, "the database did not answer in time; re-send with the same event ids (a recorded event is answered as a retry)")
                results = Array(repeating: .failure(error), count: followers.count + 1)
            } catch {
                results = Array(repeating: .failure(error), count: followers.count + 1)
            }
            for (waiter, result) in zip(followers, results.dropFirst()) { waiter.continuation.resume(returning: .done(result)) }
            queue.handOff()
            return try results[0].get()
        }
    }

    /// Refuses a company's events on another company's postings before any lock is taken, so a
    /// batch naming other companies' postings cannot hold their streams (and their appends) while
    /// it waits for an answer that is 403 anyway. A stream's company never changes, so the owner
    /// read without a lock is the owner under the lock too; a posting that does not exist yet is
    /// checked under the lock by `GroupDecision.decide`. (Not from the state cache: it may hold a
    /// state whose transaction did not commit.)
    func checkOwners(_ events: [Event], company: String) async throws {
        let postingIDs = Array(Set(events.map(\.postingID)))
        let owners = try await client.withConnection { connection in
            var owners: [String: String] = [:]
            let rows = try await connection.run(
                "SELECT posting_id, company_id FROM streams WHERE posting_id = ANY(\(postingIDs)::text[])", logger: logger)
            for try await (postingID, owner) in rows.decode((String, String).self) { owners[postingID] = owner }
            return owners
        }
        for (i, event) in events.enumerated() {
            if let owner = owners[event.postingID], owner != company {
                throw LedgerError(.forbidden, "posting \(event.postingID) belongs to another company", eventIndex: i, eventID: event.id)
            }
        }
    }

    /// Appends requests in one transaction, each decided on its own. Unique-key races (the same id,
    /// a new posting or a payment reference appended concurrently) and deadlocks are retried, so a
    /// race surfaces as the conflict or rule it really is, never as a silent success.
    func appendGroup(_ requests: [AppendRequest], mode: AppendMode) async throws -> [Result<AppendOutcome, LedgerError>] {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let results = try await client.withConnection { connection in
                    try await connection.transaction(logger: self.logger) {
                        try await self.appendOnce(requests, mode: mode, on: connection)
                    }
                }
                committed()
                return results
            } catch let error as PSQLError where attempt < 10 && error.isRetryableRace {
                logger.debug("append raced another transaction; retrying", metadata: ["ledger.sqlstate": "\(error.sqlState ?? "")"])
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * attempt))))
            }
        }
    }

    /// One transaction, five round trips whatever the number of requests: BEGIN; take the streams'
    /// turn; lock them and read the clock, the used payment references and which ids are recorded;
    /// write the events and the read models' rows; COMMIT. (A retry of recorded events reads them in
    /// another; a writer that must ask the database which read models to write takes one more.)
    func appendOnce(_ requests: [AppendRequest], mode: AppendMode, on connection: PostgresConnection) async throws
        -> [Result<AppendOutcome, LedgerError>]
    {
        let all = requests.flatMap(\.events)
        // 1. Lock the streams involved (in a fixed order, so appends never deadlock) and load their
        //    state, the transaction's position base, the server's time and the payment references
        //    in use. Looking for recorded ids only after the lock (a new statement, a new snapshot)
        //    means a concurrent append of the same events has committed by then, so a racing retry
        //    is answered as a retry, not as a broken rule.
        let refs = all.compactMap { event -> String? in
            if case .paid(_, _, _, let ref, _) = event.data { return ref } else { return nil }
        }
        let postingIDs = Array(Set(all.map(\.postingID))).sorted()
        try await serialiseStreams(postingIDs, events: all.count, on: connection)
        let ids = all.map(\.id)
        let locked = try await lockStreams(postingIDs, paymentRefs: refs, eventIDs: ids, on: connection)
        var group = GroupDecision(
            heads: locked.heads, base: locked.base, context: DecisionContext(now: Timestamp(microseconds: locked.now), usedPaymentRefs: locked.usedRefs),
            proofKey: try await proofKeys.key(on: connection, logger: logger))
        // 2. Idempotency: the lock statement said which ids are recorded already; only a retry
        //    (some are) reads those events in full.
        if !locked.recordedIDs.isEmpty { group.recorded = try await recordedEvents(ids: ids, on: connection) }
        // 3. Each request on its own, against the state the ones before it left.
        let results = requests.map { group.decide($0.events, mode: mode, company: $0.company) }
        // 4. Write the events, then the read models from the states just decided.
        if !group.records.isEmpty {
            let touched = Dictionary(uniqueKeysWithValues: group.touched.map { ($0, group.heads[$0]!.state) })
            let before = locked.heads.compactMapValues { $0.state.exists ? $0.state : nil }.filter { group.touched.contains($0.key) }
            let changes = FoldChanges(before: before, after: touched, records: group.records)
            if let rows = readModels.rows(for: changes) {
                try await write(group, rows: rows, on: connection)
            } else {
                try await write(group, rows: NoReadModelRows(), on: connection)
                try await readModels.write(changes, on: connection, logger: logger)
            }
            for id in group.touched {
                let head = group.heads[id]!
                streamStates.store(head.state, for: id, tag: head.hash)
            }
        }
        return results
    }

    // MARK: Steps

    func recordedEvents(ids: [String], on connection: PostgresConnection) async throws -> [String: RecordedEvent] {
        // One index probe per id. (With `id = ANY(array)` the planner turns to a parallel sequential
        // scan of the whole log once an import chunk brings thousands of ids: every chunk then read
        // every event, and imports slowed down as the log grew.)
        let rows = try await connection.run(
            """
            SELECT \(unescaped: eventColumns) FROM unnest(\(ids)::text[]::uuid[]) AS wanted(wanted_id)
            CROSS JOIN LATERAL (SELECT * FROM events WHERE events.id = wanted.wanted_id LIMIT 1) AS events
            """, logger: logger)
        var found: [String: RecordedEvent] = [:]
        for try await row in rows {
            let event = try decodeRecorded(row)
            found[event.event.id] = event
        }
        return found
    }

    struct Locked {
        var heads: [String: StreamHead] = [:]
        var base: Int64 = 0
        var now: Int64 = 0
        var usedRefs: Set<CompanyPaymentRef> = []
        var recordedIDs: Set<String> = []
    }

    /// Waits for the turn of every stream involved, before the transaction has an id: transaction-level
    /// advisory locks (two-key form, class 1347, so they never meet the one-key locks of leases,
    /// seals and migrations), taken in key order so two appends never deadlock on them.
    ///
    /// Positions come from the transaction id, and a row lock (`FOR UPDATE`) assigns the id as soon
    /// as it locks its first row. Locking the stream rows first would let a transaction take its id,
    /// then wait behind another that holds a second stream and gets a higher id: that stream's events
    /// would then stand in position order against their version order, so a reader following
    /// positions (projections, `verify`) would meet version 22 before version 4. An advisory lock
    /// assigns no id: every transaction gets its id only once it holds all its streams, so of two
    /// transactions sharing a stream the one that goes first also has the lower positions.
    private func serialiseStreams(_ postingIDs: [String], events: Int, on connection: PostgresConnection) async throws {
        let statement = SerialiseStreams(postingIDs: postingIDs, generic: events <= Self.preparedLimit)
        for try await _ in try await connection.run(statement, prepared: postingIDs.count <= Self.preparedLimit, logger: logger) {}
    }

    /// One statement: the clock (the transaction's position base, the server's time), the streams
    /// locked in posting order with their state, the payment references already in use, and which
    /// of the ids are recorded already.
    ///
    /// The statement's snapshot is taken after `serialiseStreams` returned, so every transaction
    /// that held one of these streams before has committed and its events are seen: a racing retry
    /// is answered as a retry, not as a broken rule. (The same id on another stream, appended
    /// concurrently, meets the unique key and the append is retried.)
    private func lockStreams(_ postingIDs: [String], paymentRefs: [String], eventIDs: [String], on connection: PostgresConnection) async throws -> Locked {
        let rows = try await connection.run(
            LockStreams(postingIDs: postingIDs, paymentRefs: paymentRefs, eventIDs: eventIDs),
            prepared: eventIDs.count <= Self.preparedLimit, logger: logger)
        var locked = Locked()
        var sawClock = false
        var stale: [String] = []
        for try await (kind, text, number1, number2, text2, format, snapshot) in rows {
            switch kind {
            case 0:
                sawClock = true
                guard let base = number1 else { throw LedgerClock.behind }
                locked.base = base
                locked.now = number2 ?? 0
            case 1:
                guard let postingID = text, let version = number1 else { continue }
                var head = StreamHead(postingID: postingID)
                head.version = version
                head.position = number2 ?? 0
                head.hash = text2.flatMap(Hex.decode) ?? []
                if let cached = streamStates.state(postingID, tag: head.hash), cached.version == version {
                    head.state = cached
                } else if format == PostingState.snapshotFormat, let snapshot,
                    let state = try? PostingState(snapshot: snapshot), state.version == version
                {
                    head.state = state
                } else {
                    stale.append(postingID)
                }
                locked.heads[postingID] = head
            case 2:
                if let company = text, let ref = text2 { locked.usedRefs.insert(CompanyPaymentRef(companyID: company, paymentRef: ref)) }
            default:
                if let id = text { locked.recordedIDs.insert(id) }
            }
        }
        guard sawClock else { throw ConfigurationError("the ledger_clock row is missing: run placementctl migrate") }
        // A snapshot of an older format (or one that disagrees with the stream) is rebuilt from the events.
        for postingID in stale {
            var state = PostingState(postingID: postingID)
            for event in try await stream(postingID, on: connection) { state.evolve(event.event) }
            locked.heads[postingID]!.state = state
        }
        return locked
    }

    /// One statement (`WriteEvents`): the events, the streams' new heads and snapshots, the payment
    /// references and the read models' rows.
    private func write<Rows: ReadModelRows>(_ group: GroupDecision, rows: Rows, on connection: PostgresConnection) async throws {
        var w = WriteEvents(rows: rows)
        precondition(group.records.count == group.dataTexts.count, "one data text per record")
        for (r, data) in zip(group.records, group.dataTexts) {
            w.positions.append(r.position)
            w.ids.append(r.event.id)
            w.postings.append(r.event.postingID)
            w.versions.append(r.version)
            w.types.append(r.event.type.rawValue)
            w.occurred.append(r.event.occurredAt.microseconds)
            w.expected.append(r.event.expectedVersion ?? -1)
            w.actors.append(r.event.actor ?? "")
            w.data.append(data)
            w.prevs.append(Hex.encode(r.prevHash))
            w.hashes.append(Hex.encode(r.hash))
        }
        for id in group.touched.sorted() {
            let head = group.heads[id]!
            w.streamIDs.append(id)
            w.companies.append(head.state.companyID)
            w.streamVersions.append(head.version)
            w.heads.append(head.position)
            w.headHashes.append(Hex.encode(head.hash))
            w.snapshots.append(head.state.snapshotText)
        }
        for row in group.paymentRows {
            w.refCompanies.append(row.company)
            w.refs.append(row.ref)
            w.refPostings.append(row.posting)
            w.refPositions.append(row.position)
        }
        // Read the row: an error (a unique violation) would otherwise surface only after COMMIT had
        // quietly rolled the transaction back.
        for try await _ in try await connection.run(w, prepared: w.ids.count <= Self.preparedLimit, logger: logger) {}
    }
}

extension PSQLError {
    var sqlState: String? { serverInfo?[.sqlState] }

    /// Unique violations (a concurrent append took the same id, posting or payment reference),
    /// serialization failures and deadlocks: the append is retried and then sees the winner.
    var isRetryableRace: Bool {
        switch sqlState {
        case "23505", "40001", "40P01": true
        default: false
        }
    }
}
