// The floor of an HTTP append on this stack: Hummingbird takes the request body, PostgresNIO
// inserts it as one row into a copy of the `events` table (the same table and the same row the
// benchmark's pgbench baseline inserts), and the row's position is the answer. No parsing, no
// rules, no hashing, no projections: whatever rate this reaches, the ledger's appends cannot pass.
//
//   floor-server SOCKET_DIR DATABASE [PORT] [MODE]
//   MODE: http (no database: the HTTP layer alone)
//         insert (default: one INSERT, autocommit, like pgbench's single-row transaction)
//         batch (the body is a JSON array: one INSERT of a row per element, like pgbench's 100-row INSERT)
//         transaction (BEGIN, a locking SELECT, INSERT, COMMIT: the least round trips an append
//         that decides under a lock needs)
//         group (Group.swift: the ledger's write set, grouped as placementd groups appends:
//         FLOOR_GROUPS transactions at once, default 4; needs the raw_* tables of bench/ab/run.sh)
//   FLOOR_PG_PORT: the server's port, for the socket's name (default 5432).
import Hummingbird
import Logging
import PostgresNIO

/// An INSERT of the request body that returns positions.
protocol InsertsBody: PostgresPreparedStatement where Row == Int64 {
    var data: String { get }
}

extension InsertsBody {
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(data)
        return bindings
    }
    func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}

struct InsertRow: InsertsBody {
    static let sql = """
        INSERT INTO floor_events (position, id, posting_id, version, type, occurred_at, recorded_at, expected_version, actor, data, prev_hash, hash)
        VALUES (nextval('floor_events_seq'), gen_random_uuid(), 'floor-' || gen_random_uuid(), 1, 'posted', now(), now(), NULL, 'bench',
                $1::jsonb, '\\xabababababababababababababababababababababababababababababababab'::bytea,
                '\\xabababababababababababababababababababababababababababababababab'::bytea)
        RETURNING position
        """
    var data: String
}

/// A transaction-level lock of a key of its own (no two requests wait for each other), as an
/// append locks its streams.
/// Every element of a JSON array as a row, in one statement (PostgreSQL splits the array, as
/// pgbench's 100-row INSERT hands it the rows).
struct InsertRows: InsertsBody {
    static let sql = """
        INSERT INTO floor_events (position, id, posting_id, version, type, occurred_at, recorded_at, expected_version, actor, data, prev_hash, hash)
        SELECT nextval('floor_events_seq'), gen_random_uuid(), 'floor-' || gen_random_uuid(), 1, 'posted', now(), now(), NULL, 'bench',
               element, '\\xabababababababababababababababababababababababababababababababab'::bytea,
               '\\xabababababababababababababababababababababababababababababababab'::bytea
        FROM jsonb_array_elements($1::jsonb) AS element
        RETURNING position
        """
    var data: String
}

struct LockStream: PostgresPreparedStatement {
    static let sql = "SELECT pg_advisory_xact_lock(1348, hashtext(gen_random_uuid()::text))::text"
    typealias Row = String
    func makeBindings() throws -> PostgresBindings { PostgresBindings() }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(String.self) }
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    print("usage: floor-server SOCKET_DIR DATABASE [PORT] [http|insert|transaction|batch|group]")
    exit(2)
}
let port = arguments.count > 3 ? Int(arguments[3]) ?? 8090 : 8090
let mode = arguments.count > 4 ? arguments[4] : "insert"
guard ["insert", "transaction", "http", "batch", "group"].contains(mode) else {
    print("unknown mode \(mode): use http, insert, transaction, batch or group")
    exit(2)
}
var logger = Logger(label: "floor")
logger.logLevel = .warning

var configuration = PostgresClient.Configuration(
    unixSocketPath: arguments[1] + "/.s.PGSQL." + (getenv("FLOOR_PG_PORT").map { String(cString: $0) } ?? "5432"), username: "postgres", password: nil, database: arguments[2])
configuration.options.maximumConnections = Int(getenv("FLOOR_CONNECTIONS").map { String(cString: $0) } ?? "") ?? 32
let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
let groups = GroupQueue(maxGroups: Int(getenv("FLOOR_GROUPS").map { String(cString: $0) } ?? "") ?? 4)

let router = Router()
router.post("/v1/events") { request, _ -> Response in
    let body = try await request.body.collect(upTo: 1 << 20)
    let data = String(buffer: body)
    var position: Int64 = 0
    switch mode {
    case "http":
        position = Int64(data.utf8.count)
    case "group":
        position = try await groups.append(data, client: client, logger: logger)
    case "batch":
        for try await p in try await client.execute(InsertRows(data: data), logger: logger) { position = max(position, p) }
    case "transaction":
        position = try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            for try await _ in try await connection.execute(LockStream(), logger: logger) {}
            var position: Int64 = 0
            for try await p in try await connection.execute(InsertRow(data: data), logger: logger) { position = p }
            try await connection.query("COMMIT", logger: logger)
            return position
        }
    default:
        for try await p in try await client.execute(InsertRow(data: data), logger: logger) { position = p }
    }
    var buffer = ByteBuffer()
    buffer.writeString("{\"position\":\(position)}")
    return Response(status: .created, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)

try await withThrowingDiscardingTaskGroup { group in
    group.addTask { await client.run() }
    group.addTask { try await app.runService() }
}
