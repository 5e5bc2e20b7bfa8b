import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import LedgerCore
import LedgerHTTP
import LedgerProjections
import LedgerStore
import Testing

/// A ledger with one key per role, served through the real router.
struct APIFixture: Sendable {
    var ledger: TestLedger
    var api: LedgerAPI
    var platform: String
    var company: String  // bound to c-1
    var otherCompany: String  // bound to c-2
    var university: String  // bound to u-1
    var admin: String
    var otherUniversity: String  // bound to u-2

    static func with(_ body: @escaping @Sendable (APIFixture, any TestClientProtocol) async throws -> Void) async throws {
        try await TestLedger.with { ledger in
            let secrets = try await ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                let keys = KeyStore(client: owner, logger: TestCluster.logger)
                return [
                    try await keys.create(role: .platform, orgID: nil).secret,
                    try await keys.create(role: .company, orgID: "c-1").secret,
                    try await keys.create(role: .company, orgID: "c-2").secret,
                    try await keys.create(role: .university, orgID: "u-1").secret,
                    try await keys.create(role: .admin, orgID: nil).secret,
                    try await keys.create(role: .university, orgID: "u-2").secret,
                ]
            }
            var api = LedgerAPI(store: ledger.store, keys: KeyCache(keys: KeyStore(client: ledger.store.client, logger: TestCluster.logger)))
            // Proofs' stream heads are signed with the key the tests seal with.
            api.proofSigner = { TestLedger.sealKey }
            let fixture = APIFixture(
                ledger: ledger, api: api, platform: secrets[0], company: secrets[1], otherCompany: secrets[2], university: secrets[3],
                admin: secrets[4], otherUniversity: secrets[5])
            let app = Application(router: api.buildRouter(), logger: TestCluster.logger)
            try await app.test(.router) { client in try await body(fixture, client) }
        }
    }
}

extension TestClientProtocol {
    /// Sends a request and returns the status, the parsed JSON body and the headers.
    func call(
        _ method: HTTPRequest.Method, _ uri: String, key: String? = nil, body: String? = nil, headers extra: HTTPFields = [:]
    ) async throws -> (status: HTTPResponse.Status, json: JSON, headers: HTTPFields) {
        var headers = extra
        if let key { headers[.authorization] = "Bearer \(key)" }
        if body != nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            let bytes = Array(response.body.readableBytesView)
            let json = (try? JSONParser.parse(bytes)) ?? .string(String(decoding: bytes, as: UTF8.self))
            return (response.status, json, response.headers)
        }
    }
}

extension JSON {
    var errorCode: String? {
        if case .string(let code)? = self["error"]?["code"] { return code }
        return nil
    }

    var errorField: String? {
        if case .string(let field)? = self["error"]?["field"] { return field }
        return nil
    }

    var errorIndex: Int64? {
        if case .int(let index)? = self["error"]?["event_index"] { return index }
        return nil
    }

    var array: [JSON] {
        if case .array(let elements) = self { return elements }
        return []
    }
}

extension JSON {
    /// The highest position in an append reply.
    var lastPosition: Int64 {
        guard case .array(let events)? = self["events"] else { return 0 }
        return events.compactMap { if case .int(let p)? = $0["position"] { p } else { nil } }.max() ?? 0
    }
}

extension HTTPField.Name {
    static let ledgerPosition = Self("X-Ledger-Position")!
}

func body(_ events: [Event]) -> String { JSON.array(events.map(\.json)).canonicalString }
func body(_ event: Event) -> String { event.json.canonicalString }

@Suite("HTTP API")
struct HTTPTests {
    @Test("append answers 201 with receipts, and a retry 200 with the same receipts; nothing new is recorded")
    func appendAndRetry() async throws {
        try await APIFixture.with { f, client in
            var e = Events("p-1")
            let batch = body([e.posted(company: "c-1"), e.applied("s-1")])
            let first = try await client.call(.post, "/v1/events", key: f.platform, body: batch)
            #expect(first.status == .created)
            let receipts = first.json["events"]?.array ?? []
            #expect(receipts.count == 2)
            #expect(receipts.first?["version"] == .int(1))
            #expect(receipts.first?["hash"] != nil && receipts.first?["recorded_at"] != nil && receipts.first?["position"] != nil)
            #expect(first.headers[HTTPField.Name("X-Ledger-Position")!] != nil)
            let again = try await client.call(.post, "/v1/events", key: f.platform, body: batch)
            #expect(again.status == .ok)
            #expect(again.json == first.json)
            #expect(try await f.ledger.count() == 2)
        }
    }

    @Test("every error has the contract's shape and status, and records nothing")
    func errorStatuses() async throws {
        try await APIFixture.with { f, client in
            var e = Events("p-1")
            let posted = e.posted(company: "c-1")
            _ = try await client.call(.post, "/v1/events", key: f.platform, body: body(posted))
            var changed = posted
            changed.actor = "other"
            let cases: [(String, HTTPResponse.Status, String, String?)] = [
                ("{\"id\":", .badRequest, "invalid_json", nil),
                ("[1, 2", .badRequest, "invalid_json", nil),
                ("\"text\"", .badRequest, "invalid_json", nil),
                ("[]", .badRequest, "invalid_field", nil),
                (body(changed), .conflict, "id_conflict", nil),
                (body(e.make(.applied(studentID: "s-1", universityID: "u-1"), expectedVersion: 5)), .conflict, "version_conflict", nil),
                (body(e.selected("s-9")), .unprocessableContent, "not_applied", nil),
                (body(e.posted(company: "c-1")), .unprocessableContent, "posting_exists", nil),
            ]
            for (payload, status, code, field) in cases {
                let reply = try await client.call(.post, "/v1/events", key: f.platform, body: payload)
                #expect(reply.status == status, "\(payload)")
                #expect(reply.json.errorCode == code, "\(payload) → \(reply.json)")
                if let field { #expect(reply.json.errorField == field) }
                if case .string(let message)? = reply.json["error"]?["message"] { #expect(!message.isEmpty) } else { Issue.record("no message") }
            }
            #expect(try await f.ledger.count() == 1)
        }
    }

    @Test(
        "bad fields are 400 invalid_field with the field's path",
        arguments: [
            (#""amount_minor":10.5,"currency":"USD","payment_ref":"r-1","student_id":"s-1""#, "data.amount_minor"),
            (#""amount_minor":1e3,"currency":"USD","payment_ref":"r-1","student_id":"s-1""#, "data.amount_minor"),
            (#""amount_minor":10,"currency":"USD","payment_ref":"r-1","student_id":"s-1","surprise":1"#, "data.surprise"),
            (#""amount_minor":10,"currency":"USD","payment_ref":"r-1","student_id":"s 1""#, "data.student_id"),
            (#""amount_minor":99999999999999999999,"currency":"USD","payment_ref":"r-1","student_id":"s-1""#, "data.amount_minor"),
            (#""amount_minor":10,"currency":"usd","payment_ref":"r-1","student_id":"s-1""#, "data.currency"),
        ])
    func fieldPaths(_ data: String, _ field: String) async throws {
        try await APIFixture.with { f, client in
            var e = Events("p-1")
            _ = try await client.call(.post, "/v1/events", key: f.platform, body: body(e.placement("s-1")))
            let event = #"{"id":"\#(UUID().uuidString)","type":"paid","posting_id":"p-1","occurred_at":"2026-03-02T10:00:00Z","data":{\#(data)}}"#
            for payload in [event, "[\(event)]"] {
                let reply = try await client.call(.post, "/v1/events", key: f.platform, body: payload)
                #expect(reply.status == .badRequest)
                #expect(reply.json.errorCode == "invalid_field")
                #expect(reply.json.errorField == field, "\(reply.json)")
                #expect(reply.json.errorIndex == 0)
            }
            #expect(try await f.ledger.count() == 3)
        }
    }

    @Test("too many events or too many bytes is 413 payload_too_large")
    func payloadLimits() async throws {
        try await APIFixture.with { f, client in
            var e = Events("p-1")
            let many = body((0..<1001).map { i in e.make(.applied(studentID: "s-\(i)", universityID: "u-1")) })
            let tooMany = try await client.call(.post, "/v1/events", key: f.platform, body: many)
            #expect(tooMany.status == .contentTooLarge)
            #expect(tooMany.json.errorCode == "payload_too_large")
            let huge = "[" + String(repeating: " ", count: (1 << 20) + 10) + "]"
            let tooBig = try await client.call(.post, "/v1/events", key: f.platform, body: huge)
            #expect(tooBig.status == .contentTooLarge)
            #expect(tooBig.json.errorCode == "payload_too_large")
            #expect(try await f.ledger.count() == 0)
        }
    }

    @Test("missing, malformed, unknown and revoked keys are 401")
    func unauthorized() async throws {
        try await APIFixture.with { f, client in
            for key in [nil, "nonsense", "plk_000000000000_" + String(repeating: "0", count: 64), f.platform + "x"] {
                let reply = try await client.call(.get, "/v1/events", key: key)
                #expect(reply.status == .unauthorized)
                #expect(reply.json.errorCode == "unauthorized")
            }
            #expect(try await client.call(.get, "/v1/events", key: f.admin).status == .ok)
            let id = try #require(KeySecret.id(of: f.admin))
            _ = try await f.ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                try await KeyStore(client: owner, logger: TestCluster.logger).revoke(id: id)
            }
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await client.call(.get, "/v1/events", key: f.admin).status == .unauthorized)
        }
    }

    @Test("a company key appends only its types to its own postings")
    func companyScope() async throws {
        try await APIFixture.with { f, client in
            var own = Events("p-own")
            var theirs = Events("p-theirs")
            #expect(try await client.call(.post, "/v1/events", key: f.company, body: body(own.posted(company: "c-1"))).status == .created)
            #expect(try await client.call(.post, "/v1/events", key: f.platform, body: body(theirs.posted(company: "c-2"))).status == .created)
            #expect(try await client.call(.post, "/v1/events", key: f.platform, body: body([own.applied("s-1"), theirs.applied("s-2")])).status == .created)
            let forbidden: [(String, Event)] = [
                ("another company's posting", theirs.selected("s-2")),
                ("posting for another company", { var n = Events("p-new"); return n.posted(company: "c-2") }()),
                ("a student's event type", own.applied("s-3")),
            ]
            for (what, event) in forbidden {
                let reply = try await client.call(.post, "/v1/events", key: f.company, body: body(event))
                #expect(reply.status == .forbidden, "\(what)")
                #expect(reply.json.errorCode == "forbidden")
            }
            #expect(try await client.call(.post, "/v1/events", key: f.company, body: body(own.selected("s-1"))).status == .created)
            #expect(try await f.ledger.count() == 5)
        }
    }

    @Test("roles: universities read postings but not the feed, streams or appends; out of scope looks like absent")
    func roleReads() async throws {
        try await APIFixture.with { f, client in
            var e = Events("p-1")
            let appended = try await client.call(.post, "/v1/events", key: f.platform, body: body(e.placement("s-1", company: "c-1")))
            let position = appended.json.lastPosition
            for key in [f.platform, f.company, f.otherCompany, f.university, f.admin] {
                let reply = try await client.call(.get, "/v1/postings/p-1?min_position=\(position)", key: key)
                #expect(Int64(reply.headers[.ledgerPosition] ?? "") ?? 0 >= position)
                #expect(reply.status == .ok)
                #expect(reply.json["posting"]?["company_id"] == .string("c-1"))
                #expect(reply.json["posting"]?["selected"] == .int(1))
            }
            #expect(try await client.call(.get, "/v1/postings/p-404", key: f.platform).status == .notFound)
            #expect(try await client.call(.get, "/v1/events", key: f.university).status == .forbidden)
            #expect(try await client.call(.get, "/v1/events", key: f.company).status == .forbidden)
            #expect(try await client.call(.post, "/v1/events", key: f.university, body: body(e.applied("s-2"))).status == .forbidden)
            #expect(try await client.call(.post, "/v1/events", key: f.admin, body: body(e.applied("s-2"))).status == .forbidden)
            for (key, status) in [(f.platform, HTTPResponse.Status.ok), (f.admin, .ok), (f.company, .ok), (f.otherCompany, .notFound), (f.university, .notFound)] {
                let reply = try await client.call(.get, "/v1/postings/p-1/events", key: key)
                #expect(reply.status == status)
                if status == .ok { #expect(reply.json["events"]?.array.count == 3) }
            }
        }
    }

    @Test("the feed pages in position order; bad parameters are 400 naming the parameter")
    func feedPaging() async throws {
        try await APIFixture.with { f, client in
            var e = Events("p-1")
            _ = try await client.call(.post, "/v1/events", key: f.platform, body: body(e.placement("s-1") + [e.applied("s-2")]))
            try await Task.sleep(for: .milliseconds(1))
            _ = try await f.ledger.feed(after: 0, count: 4)
            let page1 = try await client.call(.get, "/v1/events?limit=3", key: f.platform)
            let events = page1.json["events"]?.array ?? []
            #expect(events.count == 3)
            guard case .int(let last)? = events.last?["position"] else { Issue.record("no position"); return }
            #expect(page1.headers[HTTPField.Name("X-Ledger-Position")!] == String(last))
            let page2 = try await client.call(.get, "/v1/events?after=\(last)&limit=3", key: f.platform)
            #expect(page2.json["events"]?.array.count == 1)
            for bad in ["limit=0", "limit=1001", "after=-1", "limit=abc"] {
                let reply = try await client.call(.get, "/v1/events?\(bad)", key: f.platform)
                #expect(reply.status == .badRequest)
                #expect(reply.json.errorField == String(bad.prefix { $0 != "=" }))
            }
        }
    }

    @Test("health, readiness and unknown routes")
    func operations() async throws {
        try await APIFixture.with { _, client in
            #expect(try await client.call(.get, "/healthz").status == .ok)
            let ready = try await client.call(.get, "/readyz")
            #expect(ready.status == .ok)
            #expect(ready.json["schema_version"] == .int(Int64(Migration.latestVersion)))
            let missing = try await client.call(.get, "/v2/nothing")
            #expect(missing.status == .notFound)
            #expect(missing.json.errorCode == "not_found")
        }
    }

    @Test("readiness says why when the database schema is newer than the binary")
    func readinessWithNewerSchema() async throws {
        try await APIFixture.with { f, client in
            try await f.ledger.asOwner { owner in
                try await owner.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'from_the_future', 'x')", logger: TestCluster.logger)
            }
            let ready = try await client.call(.get, "/readyz")
            #expect(ready.status == .serviceUnavailable)
            #expect(ready.json["status"] == .string("schema incompatible"))
            #expect(ready.json["message"].map { "\($0)".contains("newer than this binary") } == true)
        }
    }
}

@Suite("OpenAPI document")
struct OpenAPITests {
    @Test("every documented route exists and every route is documented")
    func documentMatchesRouter() async throws {
        try await TestLedger.with { ledger in
            let api = LedgerAPI(store: ledger.store, keys: KeyCache(keys: KeyStore(client: ledger.store.client, logger: TestCluster.logger)))
            let router = api.buildRouter()
            func normalised(_ path: String) -> String {
                path.split(separator: "/").map { part in
                    part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
                }.joined(separator: "/")
            }
            let routed = Set(router.routes.map { "\($0.method.rawValue) /\(normalised($0.path.description))" })
            let documented = Set(OpenAPIDocument.operations.map { "\($0.method) /\(normalised($0.path))" })
            #expect(!routed.isEmpty)
            #expect(routed.subtracting(documented).isEmpty, "routes without documentation: \(routed.subtracting(documented))")
            #expect(documented.subtracting(routed).isEmpty, "documented but not routed: \(documented.subtracting(routed))")
        }
    }

    @Test("the document is served, is OpenAPI 3.1 and lists every error code")
    func served() async throws {
        try await APIFixture.with { _, client in
            let reply = try await client.call(.get, "/openapi.json")
            #expect(reply.status == .ok)
            #expect(reply.json["openapi"] == .string("3.1.0"))
            guard case .array(let codes)? = reply.json["components"]?["schemas"]?["Error"]?["properties"]?["error"]?["properties"]?["code"]?["enum"] else {
                Issue.record("no error code enum")
                return
            }
            let listed = Set(codes.compactMap { code -> String? in
                if case .string(let text) = code { return text } else { return nil }
            })
            #expect(listed.count == codes.count)
            #expect(listed == Set(ErrorCode.allCases.map(\.rawValue)))
        }
    }
}
