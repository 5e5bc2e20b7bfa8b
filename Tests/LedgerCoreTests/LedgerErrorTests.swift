@testable import LedgerCore
import Testing

@Suite("Errors")
struct LedgerErrorTests {
    @Test func errorBodyShape() {
        let full = LedgerError(.invalidField, "data.minutes must not be 0", field: "data.minutes", eventIndex: 3, eventID: "abc")
        #expect(full.json == .object([
            "error": .object([
                "code": .string("invalid_field"), "message": .string("data.minutes must not be 0"),
                "field": .string("data.minutes"), "event_index": .int(3), "event_id": .string("abc"),
            ]),
        ]))
        let bare = LedgerError(.postingClosed, "closed")
        #expect(bare.json == .object(["error": .object(["code": .string("posting_closed"), "message": .string("closed")])]))
    }

    @Test func atFillsOnlyMissingLocation() {
        let located = LedgerError(.invalidField, "x", eventIndex: 1, eventID: "a").at(index: 7, id: "b")
        #expect(located.eventIndex == 1)
        #expect(located.eventID == "a")
        let fresh = LedgerError(.invalidField, "x").at(index: 7, id: "b")
        #expect(fresh.eventIndex == 7)
        #expect(fresh.eventID == "b")
    }

    @Test func descriptionNamesCodeAndField() {
        let e = LedgerError(.invalidField, "bad", field: "data.rating")
        #expect(e.description == "invalid_field: bad (field data.rating)")
    }

    @Test func requestShapeCodesAreNotDomainRules() {
        for code in [
            ErrorCode.invalidJSON, .invalidField, .unauthorized, .forbidden, .notFound, .versionConflict, .idConflict,
            .payloadTooLarge, .unavailable, .projectionLagging,
        ] {
            #expect(!code.isDomainRule, "\(code.rawValue)")
        }
        #expect(ErrorCode.invalidJSON.rawValue == "invalid_json")
        #expect(ErrorCode.payloadTooLarge.rawValue == "payload_too_large")
        #expect(ErrorCode.versionConflict.rawValue == "version_conflict")
        #expect(ErrorCode.idConflict.rawValue == "id_conflict")
    }

    @Test func rejectionMessagesAreActionable() {
        // Every domain rejection says something beyond its code.
        var l = Ledger()
        let error = l.send(E.applied("s-1"))
        #expect(error?.message.contains("p-1") == true)
        #expect((error?.message.count ?? 0) > 10)
    }
}
