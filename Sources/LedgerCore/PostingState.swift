/// Everything the rules need to know about one posting's stream, folded from its events.
/// It is stored beside the stream as a snapshot (so an append does not re-read the stream) and can
/// always be rebuilt from the events with `evolve`.
public struct PostingState: Sendable, Hashable, Codable {
    /// Bump when the shape or meaning of the snapshot changes: older snapshots are then rebuilt
    /// from the events instead of being decoded.
    public static let snapshotFormat = 1

    public var postingID: String
    public var version: Int64 = 0
    public var companyID: String = ""
    public var title: String = ""
    public var openings: Int64 = 0
    public var stipend: Stipend = .fixed(amountMinor: 0, currency: "")
    public var isOpen = false
    public var createdAt = Timestamp(microseconds: 0)
    public var students: [String: StudentState] = [:]

    public init(postingID: String) { self.postingID = postingID }

    public var exists: Bool { version > 0 }

    /// Placements that are selected and not withdrawn.
    public var activePlacements: Int64 {
        Int64(students.values.filter { $0.selectedAt != nil && !$0.withdrawn }.count)
    }
}

/// One student's relation to a posting: application, then (perhaps) placement.
public struct StudentState: Sendable, Hashable, Codable {
    public var universityID: String
    public var appliedAt: Timestamp
    public var withdrawn = false
    public var withdrawnAt: Timestamp?
    public var selectedAt: Timestamp?
    public var minutesLogged: Int64 = 0
    public var deliveryPending = false
    public var deliveredAt: Timestamp?
    /// The latest review, if any.
    public var latestReviewAccepted: Bool?
    public var rating: Int64?
    public var reviewedAt: Timestamp?
    /// Payments by reference, in the order they were made.
    public var payments: [Payment] = []
    public var lastPaidAt: Timestamp?

    public init(universityID: String, appliedAt: Timestamp) {
        self.universityID = universityID
        self.appliedAt = appliedAt
    }

    public var isSelected: Bool { selectedAt != nil }
    /// An application counts as active until it is withdrawn.
    public var applicationActive: Bool { !withdrawn }

    public var paidMinor: Int64 { payments.reduce(0) { $0 + ($1.reversed ? 0 : $1.amountMinor) } }
}

public struct Payment: Sendable, Hashable, Codable {
    public var ref: String
    public var amountMinor: Int64
    public var occurredAt: Timestamp
    public var reversed = false

    public init(ref: String, amountMinor: Int64, occurredAt: Timestamp, reversed: Bool = false) {
        self.ref = ref
        self.amountMinor = amountMinor
        self.occurredAt = occurredAt
        self.reversed = reversed
    }
}

extension PostingState {
    /// The contract's posting row: `posting_id, company_id, title, status, openings, applicants,
    /// selected, withdrawn, stipend, created_at`.
    public var postingJSON: JSON {
        .object([
            "posting_id": .string(postingID), "company_id": .string(companyID), "title": .string(title),
            "status": .string(isOpen ? "open" : "closed"), "openings": .int(openings),
            "applicants": .int(Int64(students.count)), "selected": .int(activePlacements),
            "withdrawn": .int(Int64(students.values.filter(\.withdrawn).count)), "stipend": stipend.json,
            "created_at": .string(createdAt.rfc3339),
        ])
    }
}
