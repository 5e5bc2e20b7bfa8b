public import LedgerCore

/// The OpenAPI 3.1 document of the API, served at `GET /openapi.json`. A test checks that it and
/// the router agree: every documented route exists and every route is documented.
public enum OpenAPIDocument {
    /// (method, OpenAPI path) of every documented operation.
    public static var operations: [(method: String, path: String)] {
        guard case .object(let paths)? = document["paths"] else { return [] }
        return paths.flatMap { path, item -> [(String, String)] in
            guard case .object(let methods) = item else { return [] }
            return methods.keys.map { ($0.uppercased(), path) }
        }
    }

    static func ref(_ name: String) -> JSON { .object(["$ref": .string("#/components/schemas/\(name)")]) }
    static func string(_ description: String, pattern: String? = nil, format: String? = nil) -> JSON {
        var m: [String: JSON] = ["type": .string("string"), "description": .string(description)]
        if let pattern { m["pattern"] = .string(pattern) }
        if let format { m["format"] = .string(format) }
        return .object(m)
    }
    static func integer(_ description: String, min: Int64? = nil, max: Int64? = nil) -> JSON {
        var m: [String: JSON] = ["type": .string("integer"), "description": .string(description)]
        if let min { m["minimum"] = .int(min) }
        if let max { m["maximum"] = .int(max) }
        return .object(m)
    }
    static func object(_ properties: [String: JSON], required: [String], additional: Bool = false) -> JSON {
        .object([
            "type": .string("object"), "properties": .object(properties), "required": .array(required.map(JSON.string)),
            "additionalProperties": .bool(additional),
        ])
    }
    static func text(_ max: Int64 = 2000) -> JSON {
        .object(["type": .string("string"), "minLength": .int(1), "maxLength": .int(max)])
    }

    static let identifier = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
    static let id = string("An opaque pseudonymous identifier.", pattern: identifier)

    static func response(_ description: String, _ schema: JSON? = nil, position: Bool = false) -> JSON {
        var m: [String: JSON] = ["description": .string(description)]
        if let schema { m["content"] = .object(["application/json": .object(["schema": schema])]) }
        if position {
            m["headers"] = .object([
                "X-Ledger-Position": .object([
                    "description": .string("The ledger position the data reflects."), "schema": .object(["type": .string("integer")]),
                ])
            ])
        }
        return .object(m)
    }

    static func errors(_ statuses: [Int]) -> [String: JSON] {
        let meaning: [Int: String] = [
            400: "invalid_json or invalid_field (with `field`)", 401: "unauthorized: missing, unknown or revoked key",
            403: "forbidden: the key's role may not do this", 404: "not_found (also for resources out of the key's scope)",
            409: "version_conflict or id_conflict (appends); not_sealed (a placement proof before a seal covers the placement) or not_provable (another student's event predates private proofs)", 413: "payload_too_large: more than 1,000 events or 1 MiB",
            422: "a domain rule was broken (the code names it)", 503: "unavailable: the database is down (see Retry-After)",
        ]
        var out: [String: JSON] = [:]
        for status in statuses { out[String(status)] = response(meaning[status] ?? "error", ref("Error")) }
        return out
    }

    static func operation(
        _ summary: String, _ responses: [String: JSON], parameters: [JSON] = [], body: JSON? = nil, secured: Bool = true
    ) -> JSON {
        var m: [String: JSON] = ["summary": .string(summary), "responses": .object(responses)]
        if !parameters.isEmpty { m["parameters"] = .array(parameters) }
        if let body { m["requestBody"] = .object(["required": .bool(true), "content": .object(["application/json": .object(["schema": body])])]) }
        m["security"] = secured ? .array([.object(["bearer": .array([])])]) : .array([])
        return .object(m)
    }

    static func parameter(_ name: String, in location: String, _ schema: JSON, required: Bool = false) -> JSON {
        .object(["name": .string(name), "in": .string(location), "required": .bool(required || location == "path"), "schema": schema])
    }

    static var eventDataSchemas: [String: JSON] {
        let student: JSON = id
        let amount = integer("Integer minor units (cents).", min: 1, max: Event.maxAmountMinor)
        let currency = string("ISO 4217 code.", pattern: "^[A-Z]{3}$")
        let stipend: JSON = .object([
            "oneOf": .array([
                object(["kind": .object(["const": .string("fixed")]), "amount_minor": amount, "currency": currency], required: ["kind", "amount_minor", "currency"]),
                object(
                    ["kind": .object(["const": .string("hourly")]), "rate_minor": amount, "max_hours": integer("", min: 1, max: 2000), "currency": currency],
                    required: ["kind", "rate_minor", "max_hours", "currency"]),
            ])
        ])
        return [
            "posted": object(
                ["company_id": id, "title": text(200), "openings": integer("", min: 1, max: 1000), "stipend": stipend],
                required: ["company_id", "title", "openings", "stipend"]),
            "applied": object(["student_id": student, "university_id": id], required: ["student_id", "university_id"]),
            "selected": object(["student_id": student], required: ["student_id"]),
            "hours_logged": object(
                [
                    "student_id": student, "minutes": integer("Non-zero; negative is a correction and needs a reason.", min: -1440, max: 1440),
                    "work_date": string("YYYY-MM-DD", format: "date"), "note": text(), "reason": text(),
                ], required: ["student_id", "minutes", "work_date"]),
            "delivered": object(["student_id": student, "summary": text(), "url": text()], required: ["student_id"]),
            "reviewed": object(
                ["student_id": student, "accepted": .object(["type": .string("boolean")]), "rating": integer("", min: 1, max: 5), "comment": text()],
                required: ["student_id", "accepted", "rating"]),
            "paid": object(
                ["student_id": student, "amount_minor": amount, "currency": currency, "payment_ref": id, "method": text()],
                required: ["student_id", "amount_minor", "currency", "payment_ref"]),
            "payment_reversed": object(["student_id": student, "payment_ref": id, "reason": text()], required: ["student_id", "payment_ref", "reason"]),
            "withdrawn": object(["student_id": student, "reason": text()], required: ["student_id"]),
            "closed": object(["reason": text()], required: []),
        ]
    }

    static var envelope: JSON {
        let variants: [JSON] = EventType.allCases.map { type in
            object(
                [
                    "id": string("Client-chosen UUID: the idempotency key.", format: "uuid"),
                    "type": .object(["const": .string(type.rawValue)]),
                    "posting_id": id,
                    "occurred_at": string("RFC 3339 with a zone; at most 5 minutes in the future.", format: "date-time"),
                    "expected_version": integer("The stream's version before this event (0: must not exist).", min: 0, max: Int64(Int32.max)),
                    "actor": text(200),
                    "data": ref("Data_\(type.rawValue)"),
                ], required: ["id", "type", "posting_id", "occurred_at", "data"])
        }
        return .object(["oneOf": .array(variants)])
    }

    public static let document: JSON = {
        var schemas: [String: JSON] = [
            "Error": object(
                [
                    "error": object(
                        [
                            "code": .object(["type": .string("string"), "enum": .array(ErrorCode.allCases.map { .string($0.rawValue) })]),
                            "message": .object(["type": .string("string")]), "field": .object(["type": .string("string")]),
                            "event_index": .object(["type": .string("integer")]), "event_id": .object(["type": .string("string")]),
                        ], required: ["code", "message"])
                ], required: ["error"]),
            "Envelope": envelope,
            "Receipt": object(
                [
                    "id": string("", format: "uuid"), "position": integer("Global order."), "version": integer("Stream version."),
                    "recorded_at": string("", format: "date-time"), "hash": string("SHA-256, hex.", pattern: "^[0-9a-f]{64}$"),
                ], required: ["id", "position", "version", "recorded_at", "hash"]),
            "RecordedEvent": .object([
                "description": .string("The envelope plus position, version, recorded_at and hash."), "type": .string("object"),
                "required": .array(["id", "type", "posting_id", "occurred_at", "data", "position", "version", "recorded_at", "hash"].map(JSON.string)),
            ]),
            "Posting": object(
                [
                    "posting_id": id, "company_id": id, "title": .object(["type": .string("string")]),
                    "status": .object(["type": .string("string"), "enum": .array([.string("open"), .string("closed")])]),
                    "openings": integer(""), "applicants": integer("Applications ever made."),
                    "selected": integer("Placements not withdrawn."), "withdrawn": integer("Applications or placements withdrawn."),
                    "stipend": .object(["type": .string("object")]), "created_at": string("", format: "date-time"),
                ], required: ["posting_id", "company_id", "title", "status", "openings", "applicants", "selected", "withdrawn", "stipend", "created_at"]),
        ]
        for (type, schema) in eventDataSchemas { schemas["Data_\(type)"] = schema }
        let receipts = object(["events": .object(["type": .string("array"), "items": ref("Receipt")])], required: ["events"])
        let events = object(["events": .object(["type": .string("array"), "items": ref("RecordedEvent")])], required: ["events"])
        let postingID = parameter("posting_id", in: "path", id)
        let status = object(["status": .object(["type": .string("string")])], required: ["status"], additional: true)
        var paths: [String: JSON] = [:]
        paths["/v1/events"] = .object([
            "post": operation(
                "Append one event or an atomic batch (platform; company: its own postings and types posted, selected, reviewed, paid, payment_reversed, closed).",
                ["201": response("Recorded.", receipts, position: true), "200": response("Already recorded: the original results.", receipts, position: true)]
                    .merging(errors([400, 401, 403, 409, 413, 422, 503]), uniquingKeysWith: { a, _ in a }),
                body: .object(["oneOf": .array([ref("Envelope"), .object(["type": .string("array"), "items": ref("Envelope"), "minItems": .int(1), "maxItems": .int(1000)])])])),
            "get": operation(
                "The global feed in position order (platform, admin).",
                ["200": response("Events after `after`.", events, position: true)].merging(errors([400, 401, 403, 503]), uniquingKeysWith: { a, _ in a }),
                parameters: [
                    parameter("after", in: "query", integer("Position to continue after.", min: 0)),
                    parameter("limit", in: "query", integer("At most 1,000; a page also ends once its events hold 4 MiB (continue after its last position).", min: 1, max: 1000)),
                ]),
        ])
        paths["/v1/events/live"] = .object([
            "get": operation(
                "The gap-free feed as Server-Sent Events (platform, admin): every event after `after` (or the Last-Event-ID header), then each new one as it becomes gap-free. Each message is `id: <position>`, `event: ledger_event`, `data: <the recorded event as JSON>`; an `event: live` message marks the end of the history; `: heartbeat` comments keep an idle connection open; a connection that falls too far behind, or a daemon that stops, ends with `event: resume` naming the position to resume from.",
                [
                    "200": .object([
                        "description": .string("The stream: each item below is one message."),
                        "content": .object([
                            "text/event-stream": .object([
                                "schema": .object([
                                    "type": .string("object"),
                                    "properties": .object([
                                        "event": .object(["type": .string("string"), "enum": .array([.string("ledger_event"), .string("live"), .string("resume")])]),
                                        "id": .object(["type": .string("string"), "pattern": .string("^[0-9]+$"), "description": .string("The event's position.")]),
                                        "data": .object([
                                            "type": .string("string"), "contentMediaType": .string("application/json"),
                                            "contentSchema": .object(["type": .string("object")]),
                                            "description": .string("ledger_event: the recorded event; live: {after}; resume: {after, reason, message}."),
                                        ]),
                                    ]),
                                    "required": .array([.string("event"), .string("data")]),
                                ])
                            ])
                        ]),
                    ])
                ].merging(errors([400, 401, 403, 503]), uniquingKeysWith: { a, _ in a }),
                parameters: [
                    parameter("after", in: "query", integer("Position to continue after (default 0; the Last-Event-ID header wins).", min: 0)),
                    parameter("Last-Event-ID", in: "header", string("The position of the last event received: resumes after it.", pattern: "^[0-9]+$")),
                ])
        ])
        paths["/v1/postings/{posting_id}"] = .object([
            "get": operation(
                "A posting (any key).",
                ["200": response("The posting.", object(["posting": ref("Posting")], required: ["posting"]), position: true)]
                    .merging(errors([400, 401, 404, 503]), uniquingKeysWith: { a, _ in a }),
                parameters: [postingID, parameter("min_position", in: "query", integer("Wait up to 5 s for the projection to reach this position (else 503 projection_lagging; at most 64 waits per key at once).", min: 0))])
        ])
        paths["/v1/postings/{posting_id}/events"] = .object([
            "get": operation(
                "A posting's stream (platform, admin, the owning company).",
                ["200": response("Its events in version order.", events, position: true)]
                    .merging(errors([400, 401, 404, 503]), uniquingKeysWith: { a, _ in a }), parameters: [postingID])
        ])
        let minPosition = parameter(
            "min_position", in: "query", integer("Wait up to 5 s for the projections to reach this position (else 503 projection_lagging; at most 64 waits per key at once).", min: 0))
        let readErrors = errors([400, 401, 403, 404, 503])
        func read(_ summary: String, _ body: JSON, parameters: [JSON], csv: Bool = false) -> JSON {
            var ok = response(summary, body, position: true)
            if csv, case .object(var m) = ok, case .object(var content)? = m["content"] {
                content["text/csv"] = .object(["schema": .object(["type": .string("string")])])
                m["content"] = .object(content)
                ok = .object(m)
            }
            return .object(["get": operation(summary, ["200": ok].merging(readErrors, uniquingKeysWith: { a, _ in a }), parameters: parameters + [minPosition])])
        }
        let anyObject: JSON = .object(["type": .string("object")])
        let list: (String) -> JSON = { name in
            object([name: .object(["type": .string("array"), "items": anyObject]), "next_cursor": .object(["type": .array([.string("string"), .string("null")])])], required: [name, "next_cursor"])
        }
        let from = parameter("from", in: "query", string("Start of the business-time range (inclusive), RFC 3339.", format: "date-time"))
        let to = parameter("to", in: "query", string("End of the business-time range (exclusive), RFC 3339.", format: "date-time"))
        let format = parameter("format", in: "query", .object(["type": .string("string"), "enum": .array([.string("json"), .string("csv")])]))
        let asOf = parameter(
            "as_of", in: "query", string("Recorded time, RFC 3339: only events recorded at or before it count (what the ledger said then).", format: "date-time"))
        paths["/v1/placements"] = read(
            "Placement rows, scoped to the key (company: its own; university: its students'), paginated by opaque cursor.", list("placements"),
            parameters: [
                parameter("company_id", in: "query", id), parameter("university_id", in: "query", id), parameter("student_id", in: "query", id),
                parameter("status", in: "query", .object(["type": .string("string"), "enum": .array(PlacementStatus.allCases.map { .string($0.rawValue) })])),
                parameter("limit", in: "query", integer("Rows per page, at most 1,000.", min: 1, max: 1000)), parameter("cursor", in: "query", string("From next_cursor.")),
            ])
        paths["/v1/placements/{posting_id}/{student_id}"] = read(
            "One placement and its audit trail (posting-level events and that student's).",
            object(["placement": anyObject, "events": .object(["type": .string("array"), "items": ref("RecordedEvent")])], required: ["placement", "events"]),
            parameters: [postingID, parameter("student_id", in: "path", id)])
        paths["/v1/reports/universities/{university_id}"] = read(
            "University dashboard figures (that university, platform, admin).", anyObject,
            parameters: [parameter("university_id", in: "path", id), from, to, asOf])
        paths["/v1/reports/companies/{company_id}/stipends"] = read(
            "A company's stipend reconciliation (that company, platform, admin); CSV: the per-currency lines.", anyObject,
            parameters: [parameter("company_id", in: "path", id), asOf, format], csv: true)
        let lines: (String) -> JSON = { name in .object(["type": .string("array"), "items": anyObject, "description": .string(name)]) }
        let statementCurrency = object(
            [
                "currency": .object(["type": .string("string")]), "opening_balance_minor": integer("Balance of every line before from."),
                "earned_minor": integer("Sum of the earned lines."), "paid_minor": integer("Sum of the paid lines."),
                "reversed_minor": integer("Sum of the reversed lines."),
                "closing_balance_minor": integer("opening + earned − paid + reversed."),
                "lines": lines("occurred_at, posting_id, student_id, kind (earned, paid, reversed), event_id, position, payment_ref, amount_minor"),
            ], required: ["currency", "opening_balance_minor", "earned_minor", "paid_minor", "reversed_minor", "closing_balance_minor", "lines"])
        let nullableTime: JSON = .object(["type": .array([.string("string"), .string("null")])])
        paths["/v1/reports/companies/{company_id}/statement"] = read(
            "A company's statement per currency over [from, to) by occurred_at: opening, earned, paid, reversed, closing and every line that moved the balance (that company, platform, admin); CSV: one row per line with its currency's figures.",
            object(
                [
                    "company_id": id, "from": nullableTime, "to": nullableTime, "as_of": nullableTime,
                    "currencies": .object(["type": .string("array"), "items": statementCurrency]),
                ], required: ["company_id", "from", "to", "as_of", "currencies"]),
            parameters: [parameter("company_id", in: "path", id), from, to, asOf, format], csv: true)
        let agingCurrency = object(
            [
                "currency": .object(["type": .string("string")]), "total_minor": integer("What the company owes in this currency at `at`."),
                "buckets": object(
                    ["0-30": integer(""), "31-60": integer(""), "61-90": integer(""), "90+": integer("")], required: ["0-30", "31-60", "61-90", "90+"]),
                "items": lines("posting_id, student_id, amount_minor, due_since, days, bucket: each unpaid remainder of an earned line (FIFO)"),
            ], required: ["currency", "total_minor", "buckets", "items"])
        paths["/v1/reports/companies/{company_id}/aging"] = read(
            "What a company owes at `at` (default now) by age: unpaid remainders of earned lines after payments are applied oldest first, in buckets 0-30, 31-60, 61-90 and 90+ days (that company, platform, admin); CSV: one row per item.",
            object(
                [
                    "company_id": id, "at": string("", format: "date-time"), "as_of": nullableTime,
                    "currencies": .object(["type": .string("array"), "items": agingCurrency]),
                ], required: ["company_id", "at", "as_of", "currencies"]),
            parameters: [
                parameter("company_id", in: "path", id),
                parameter("at", in: "query", string("The time to age to, RFC 3339 (default now).", format: "date-time")), asOf, format,
            ], csv: true)
        paths["/v1/reports/payouts"] = read(
            "Payout line items and totals per currency, scoped to the key; CSV: the items.", anyObject,
            parameters: [from, to, parameter("company_id", in: "query", id), parameter("university_id", in: "query", id), asOf, format], csv: true)
        paths["/v1/projections"] = read(
            "Each projection's position, lag and state (platform, admin).",
            object(["projections": .object(["type": .string("array"), "items": anyObject])], required: ["projections"]), parameters: [])
        paths["/healthz"] = .object(["get": operation("Liveness.", ["200": response("Alive.", status)], secured: false)])
        paths["/readyz"] = .object([
            "get": operation("Readiness: database reachable and migrations current (with --replica-url, also the replica reachable: `replica` says `streaming`).", ["200": response("Ready.", status), "503": response("Not ready.", status)], secured: false)
        ])
        paths["/"] = .object([
            "get": operation(
                "The web dashboard: a self-contained page; paste a key (kept in sessionStorage, sent as a bearer header).",
                ["200": .object(["description": .string("HTML."), "content": .object(["text/html": .object(["schema": .object(["type": .string("string")])])])])],
                secured: false)
        ])
        paths["/v1/me"] = .object([
            "get": operation(
                "The calling key: its id, role and organisation (the dashboard uses it).",
                ["200": response("The key.", object(["key_id": .object(["type": .string("string")]), "role": .object(["type": .string("string"), "enum": .array(["platform", "company", "university", "admin"].map(JSON.string))]), "org_id": .object(["type": .array([.string("string"), .string("null")])])], required: ["key_id", "role", "org_id"]))]
                    .merging(errors([401, 503]), uniquingKeysWith: { a, _ in a }))
        ])
        paths["/metrics"] = .object([
            "get": operation(
                "Prometheus text: appends, rejections by code, request latency histogram, database pool, projection lag.",
                ["200": .object(["description": .string("Prometheus text format 0.0.4."), "content": .object(["text/plain": .object(["schema": .object(["type": .string("string")])])])])],
                secured: false)
        ])
        paths["/openapi.json"] = .object(["get": operation("This document.", ["200": response("OpenAPI 3.1.")], secured: false)])
        let hex: JSON = .object(["type": .string("string"), "pattern": .string("^[0-9a-f]{64}$")])
        let seal = object(
            [
                "seal": integer("The seal's number.", min: 1), "tree_size": integer("Events in the Merkle tree (every event up to up_to_position).", min: 1),
                "up_to_position": integer("The last event's position.", min: 1), "root": hex,
                "previous": .object(["type": .array([.string("string"), .string("null")]), "description": .string("The digest of the seal before (hex SHA-256 of its canonical JSON without signature).")]),
                "sealed_at": .object(["type": .string("string"), "format": .string("date-time")]), "key_id": .object(["type": .string("string")]),
                "signature": .object(["type": .string("string"), "description": .string("Ed25519 over the RFC 8785 canonical JSON of this object without signature, base64.")]),
            ], required: ["seal", "tree_size", "up_to_position", "root", "previous", "sealed_at", "key_id", "signature"])
        paths["/v1/seals/latest"] = .object([
            "get": operation(
                "The latest signed seal (no key needed): it commits to the RFC 9162 Merkle tree of every event up to its position.",
                ["200": response("The seal.", object(["seal": seal], required: ["seal"]))].merging(errors([404, 503]), uniquingKeysWith: { a, _ in a }),
                secured: false)
        ])
        paths["/v1/seals/{seal}"] = .object([
            "get": operation(
                "Signed seal number `seal` (no key needed). Seals made before signed Merkle seals answer 404.",
                ["200": response("The seal.", object(["seal": seal], required: ["seal"]))].merging(errors([400, 404, 503]), uniquingKeysWith: { a, _ in a }),
                parameters: [parameter("seal", in: "path", integer("The seal's number.", min: 1))], secured: false)
        ])
        let hexArray: JSON = .object(["type": .string("array"), "items": hex])
        let proofEvent = object(
            [
                "version": integer("The event's version in the posting's stream (1, 2, … without a gap).", min: 1),
                "position": integer("Its position.", min: 1), "recorded_at": .object(["type": .string("string"), "format": .string("date-time")]),
                "hash_format": integer("1 or 2: the rule its hash follows.", min: 1, max: 2),
                "event": .object(["type": .string("object"), "description": .string("A disclosed event: its envelope (the posting's own events and the student's).")]),
                "salt": .object(["type": .string("string"), "description": .string("A disclosed format 2 event: its commitment's salt (hex).")]),
                "commitment": .object(["type": .string("string"), "description": .string("A withheld event (another student's): SHA-256 of salt and content (hex).")]),
                "subject": .object(["type": .string("string"), "description": .string("A withheld event: its student's salted tag (hex).")]),
            ], required: ["version", "position", "recorded_at", "hash_format"])
        var proofResponses = ["200": response(
            "The proof: see docs/proofs.md for the format and the checks (`placementctl proof verify` runs them offline).",
            object(
                [
                    "proof_format": integer("1.", min: 1, max: 1), "posting_id": .object(["type": .string("string")]),
                    "student_id": .object(["type": .string("string")]), "seal": seal,
                    "placement": .object(["type": .string("object"), "description": .string("The placement row as of the seal.")]),
                    "subject_salt": hex, "events": .object(["type": .string("array"), "items": proofEvent]),
                    "stream_head": .object([
                        "type": .string("object"),
                        "description": .string("The ledger's signed statement of where the posting's stream ends as of the seal (docs/proofs.md)."),
                    ]),
                    "inclusion": object(["leaf_index": integer("The stream's last sealed event's leaf in the seal's tree.", min: 0), "event_hash": hex, "path": hexArray], required: ["leaf_index", "event_hash", "path"]),
                ], required: ["proof_format", "posting_id", "student_id", "seal", "placement", "subject_salt", "events", "stream_head", "inclusion"]),
            position: true)]
        proofResponses.merge(errors([400, 401, 404, 409, 503]), uniquingKeysWith: { a, _ in a })
        paths["/v1/placements/{posting_id}/{student_id}/proof"] = .object([
            "get": operation(
                "A proof of one placement against the latest signed seal, scoped like the placement: its stream complete and unchanged, this student's and the posting's events in full, other students' only as salted commitments.",
                proofResponses, parameters: [postingID, parameter("student_id", in: "path", id), minPosition])
        ])
        let key = object(
            [
                "key_id": .object(["type": .string("string")]), "algorithm": .object(["type": .string("string"), "enum": .array([.string("ed25519")])]),
                "public_key": .object(["type": .string("string"), "description": .string("The raw 32-byte public key, base64.")]),
                "created_at": .object(["type": .string("string"), "format": .string("date-time")]),
                "retired_at": .object(["type": .array([.string("string"), .string("null")])]),
            ], required: ["key_id", "algorithm", "public_key", "created_at", "retired_at"])
        paths["/v1/seals/keys"] = .object([
            "get": operation(
                "The public keys that sign seals, with when each was made and retired (no key needed).",
                ["200": response("The keys.", object(["keys": .object(["type": .string("array"), "items": key])], required: ["keys"]))]
                    .merging(errors([503]), uniquingKeysWith: { a, _ in a }),
                secured: false)
        ])
        paths["/v1/seals/consistency"] = .object([
            "get": operation(
                "The RFC 9162 §2.1.4 consistency proof that seal `to`'s tree extends seal `from`'s (no key needed).",
                ["200": response("Both seals and the proof.", object(["from": seal, "to": seal, "proof": .object(["type": .string("array"), "items": hex])], required: ["from", "to", "proof"]))]
                    .merging(errors([400, 404, 503]), uniquingKeysWith: { a, _ in a }),
                parameters: [
                    parameter("from", in: "query", integer("The earlier seal's number.", min: 1), required: true),
                    parameter("to", in: "query", integer("The later seal's number.", min: 1), required: true),
                ], secured: false)
        ])
        return .object([
            "openapi": .string("3.1.0"),
            "info": .object([
                "title": .string("Placement Ledger"), "version": .string("1.0.0"),
                "description": .string("Event-sourced ledger of micro-internship placements and stipends. Money is integer minor units."),
            ]),
            "paths": .object(paths),
            "components": .object([
                "schemas": .object(schemas),
                "securitySchemes": .object(["bearer": .object(["type": .string("http"), "scheme": .string("bearer")])]),
            ]),
        ])
    }()
}
