/// The decision of an append group transaction, as pure functions.

/// How an append treats ids that are already recorded and rules that are broken.
public enum AppendMode: Sendable {
    /// The API's contract: all or nothing; a batch whose events are all recorded with the same
    /// content returns the original results; any other recorded id is `id_conflict`.
    case atomic
    /// Import: events already recorded with the same content are skipped; at the first broken rule
    /// the events before it are recorded and the rejection is returned instead of thrown.
    case prefix
}

public struct AppendOutcome: Sendable {
    /// The recorded events: new ones, or for a replayed batch the originals, in request order.
    public var events: [RecordedEvent]
    /// True when every event was already recorded: nothing new was written.
    public var replayed: Bool
    /// Events skipped because they were already recorded (import mode).
    public var skipped: Int
    /// The first broken rule (import mode); everything before it was recorded.
    public var rejection: LedgerError?

    public init(events: [RecordedEvent], replayed: Bool, skipped: Int, rejection: LedgerError?) {
        self.events = events
        self.replayed = replayed
        self.skipped = skipped
        self.rejection = rejection
    }
}

/// What a group transaction has decided so far: pure, so the rules of a shared transaction (company
/// scope, idempotency, the rules, versions, positions and hash chains) are tested without a
/// database. The store locks the streams, reads their heads and the recorded ids, runs `decide` for
/// each request in turn and writes what it recorded.
public struct GroupDecision: Sendable {
    public var heads: [String: StreamHead]
    public var base: Int64
    public var context: DecisionContext
    public var recorded: [String: RecordedEvent] = [:]
    public var records: [RecordedEvent] = []
    /// The canonical text of each record's data, as hashed (what `write` stores).
    public var dataTexts: [String] = []
    public var paymentRows: [(company: String, ref: String, posting: String, position: Int64)] = []
    public var touched: Set<String> = []
    /// New events are hashed by format 2 (`PrivateEventHash`) with this key.
    public let proofKey: ProofKey

    public init(heads: [String: StreamHead], base: Int64, context: DecisionContext, proofKey: ProofKey) {
        self.heads = heads
        self.base = base
        self.context = context
        self.proofKey = proofKey
    }

    /// Event types a company key may append (to its own postings).
    public static let companyTypes: Set<EventType> = [.posted, .selected, .reviewed, .paid, .paymentReversed, .closed]

    /// A company key appends only the company's types, and posts only for itself: checked before
    /// any lock is taken. (That the other events are on its own postings is `decide`'s part, under
    /// the streams' locks.)
    public static func checkCompanyEvents(_ events: [Event], company: String) throws(LedgerError) {
        for (i, event) in events.enumerated() {
            guard companyTypes.contains(event.type) else {
                throw LedgerError(.forbidden, "a company key may not append \(event.type.rawValue) events", eventIndex: i, eventID: event.id)
            }
            if case .posted(let owner, _, _, _) = event.data {
                guard owner == company else {
                    throw LedgerError(
                        .forbidden, "a company key may only post for its own company (\(company))", field: "data.company_id",
                        eventIndex: i, eventID: event.id)
                }
            }
        }
    }

    public mutating func decide(_ input: [Event], mode: AppendMode, company: String? = nil) -> Result<AppendOutcome, LedgerError> {
        // A company's key: only its own postings, as they stand under the lock (checked before
        // idempotency, so a replay cannot be used to read another company's events either).
        if let company {
            var postedHere: [String: String] = [:]
            for (i, event) in input.enumerated() {
                let stored = heads[event.postingID].map(\.state).flatMap { $0.exists ? $0.companyID : nil }
                if let owner = stored ?? postedHere[event.postingID], owner != company {
                    return .failure(
                        LedgerError(.forbidden, "posting \(event.postingID) belongs to another company", eventIndex: i, eventID: event.id))
                }
                if case .posted(let owner, _, _, _) = event.data, stored == nil { postedHere[event.postingID] = owner }
            }
        }
        // Idempotency: events already recorded (before, or earlier in this group).
        var events = input
        var skipped = 0
        if input.contains(where: { recorded[$0.id] != nil }) {
            for (i, event) in input.enumerated() {
                if let original = recorded[event.id], original.event.contentFingerprint != event.contentFingerprint {
                    return .failure(
                        LedgerError(
                            .idConflict, "event id \(event.id) is already recorded with different content", eventIndex: i, eventID: event.id))
                }
            }
            switch mode {
            case .atomic:
                guard input.allSatisfy({ recorded[$0.id] != nil }) else {
                    let i = input.firstIndex { recorded[$0.id] != nil }!
                    return .failure(
                        LedgerError(
                            .idConflict,
                            "the batch mixes already recorded events (like \(input[i].id)) with new ones: re-send the original batch unchanged, or send only new events",
                            eventIndex: i, eventID: input[i].id))
                }
                return .success(AppendOutcome(events: input.map { recorded[$0.id]! }, replayed: true, skipped: 0, rejection: nil))
            case .prefix:
                events = input.filter { recorded[$0.id] == nil }
                skipped = input.count - events.count
                if events.isEmpty { return .success(AppendOutcome(events: [], replayed: true, skipped: skipped, rejection: nil)) }
            }
        }

        // The rules, on this request's streams only: a rejected request leaves no trace.
        var states: [String: PostingState] = [:]
        for id in Set(events.map(\.postingID)) { states[id] = heads[id]?.state }
        var context = self.context
        let (accepted, rejection) = BatchDecision.decide(events, states: &states, context: &context)
        if var error = rejection {
            if let index = error.eventIndex, mode == .atomic || skipped > 0 {
                // Report the index in the caller's batch.
                error.eventIndex = input.firstIndex { $0.id == events[index].id } ?? index
            }
            if mode == .atomic { return .failure(error) }
            if accepted.isEmpty { return .success(AppendOutcome(events: [], replayed: false, skipped: skipped, rejection: error)) }
        }
        self.context = context

        // Positions, hashes, chains.
        var outcome: [RecordedEvent] = []
        outcome.reserveCapacity(accepted.count)
        for decided in accepted {
            let postingID = decided.event.postingID
            let position = base + Int64(records.count)
            let prevHash = heads[postingID]?.hash ?? []
            let data = decided.event.data.json.canonicalBytes
            let hash = PrivateEventHash.compute(
                event: decided.event, version: decided.version, position: position, recordedAt: context.now, prevHash: prevHash,
                data: data, key: proofKey)
            let record = RecordedEvent(
                event: decided.event, position: position, version: decided.version, recordedAt: context.now, prevHash: prevHash, hash: hash,
                hashFormat: PrivateEventHash.format)
            records.append(record)
            dataTexts.append(String(decoding: data, as: UTF8.self))
            outcome.append(record)
            recorded[decided.event.id] = record
            heads[postingID, default: StreamHead(postingID: postingID)].advance(position: position, hash: hash)
            if case .paid(_, _, _, let ref, _) = decided.event.data {
                paymentRows.append((states[postingID]!.companyID, ref, postingID, position))
            }
        }
        for (id, state) in states { heads[id]!.state = state }
        touched.formUnion(states.keys)
        return .success(AppendOutcome(events: outcome, replayed: false, skipped: skipped, rejection: rejection))
    }
}


/// A stream's head as a group transaction sees it: version, last position and hash, and the
/// posting's state.
public struct StreamHead: Sendable {
    public var postingID: String
    public var version: Int64 = 0
    public var position: Int64 = 0
    public var hash: [UInt8] = []
    public var state: PostingState

    public init(postingID: String) {
        self.postingID = postingID
        self.state = PostingState(postingID: postingID)
    }

    public mutating func advance(position: Int64, hash: [UInt8]) {
        version += 1
        self.position = position
        self.hash = hash
    }
}

