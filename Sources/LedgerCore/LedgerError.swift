/// Every error code of the contract. The raw value is what clients see.
public enum ErrorCode: String, Sendable, CaseIterable, Codable {
    // Request shape
    case invalidJSON = "invalid_json"
    case invalidField = "invalid_field"
    case unauthorized
    case forbidden
    case notFound = "not_found"
    case versionConflict = "version_conflict"
    case idConflict = "id_conflict"
    case payloadTooLarge = "payload_too_large"
    case unavailable
    case projectionLagging = "projection_lagging"
    /// A placement proof asked for before the latest signed seal covers the placement (409).
    case notSealed = "not_sealed"
    /// A placement proof that cannot be private: the posting holds another student's event from
    /// before hash format 2 (409, for good).
    case notProvable = "not_provable"
    // Domain rules (422)
    case postingExists = "posting_exists"
    case postingNotFound = "posting_not_found"
    case postingClosed = "posting_closed"
    case alreadyApplied = "already_applied"
    case notApplied = "not_applied"
    case alreadySelected = "already_selected"
    case openingsFilled = "openings_filled"
    case notSelected = "not_selected"
    case placementWithdrawn = "placement_withdrawn"
    case negativeHoursTotal = "negative_hours_total"
    case deliveryPending = "delivery_pending"
    case alreadyAccepted = "already_accepted"
    case nothingDelivered = "nothing_delivered"
    case currencyMismatch = "currency_mismatch"
    case duplicatePaymentRef = "duplicate_payment_ref"
    case paymentExceedsCap = "payment_exceeds_cap"
    case paymentNotFound = "payment_not_found"
    case paymentAlreadyReversed = "payment_already_reversed"
    case alreadyWithdrawn = "already_withdrawn"
    case occurredInFuture = "occurred_in_future"

    /// The domain-rule codes, answered with 422.
    public var isDomainRule: Bool {
        switch self {
        case .invalidJSON, .invalidField, .unauthorized, .forbidden, .notFound, .versionConflict, .idConflict,
            .payloadTooLarge, .unavailable, .projectionLagging, .notSealed, .notProvable:
            false
        default: true
        }
    }
}

/// The one error type of the domain: a stable code, a message a person can act on, and where the
/// problem is (`field` as a dotted path, the index and id of the event in its batch).
public struct LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var field: String?
    public var eventIndex: Int?
    public var eventID: String?

    public init(_ code: ErrorCode, _ message: String, field: String? = nil, eventIndex: Int? = nil, eventID: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.eventIndex = eventIndex
        self.eventID = eventID
    }

    public func at(index: Int?, id: String?) -> LedgerError {
        var copy = self
        if copy.eventIndex == nil { copy.eventIndex = index }
        if copy.eventID == nil { copy.eventID = id }
        return copy
    }

    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let field { text += " (field \(field))" }
        return text
    }

    /// The error body of the contract: `{"error":{"code","message","field"?,"event_index"?,"event_id"?}}`.
    public var json: JSON {
        var body: [String: JSON] = ["code": .string(code.rawValue), "message": .string(message)]
        if let field { body["field"] = .string(field) }
        if let eventIndex { body["event_index"] = .int(Int64(eventIndex)) }
        if let eventID { body["event_id"] = .string(eventID) }
        return .object(["error": .object(body)])
    }
}
