// The `group` mode: the ledger's write set, grouped as placementd groups appends, without the
// rules, parsing or hashing. Needs the raw_* tables that bench/ab/run.sh creates.
import Logging
import PostgresNIO
import Synchronization

private let hash = "'\\xabababababababababababababababababababababababababababababababab'::bytea"

/// The shared append barrier and each stream's turn, as `SerialiseStreams` takes them.
struct TakeTurn: PostgresPreparedStatement {
    static let sql = """
        SELECT pg_advisory_xact_lock_shared(1348, 0)::text,
               (SELECT count(pg_advisory_xact_lock(1347, hashtext(k))) FROM unnest($1::text[]) AS k)
        """
    typealias Row = (String, Int64)
    var keys: [String]
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(keys)
        return bindings
    }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode((String, Int64).self) }
}

/// The stream rows locked and read, as the group's read does.
struct ReadHeads: PostgresPreparedStatement {
    static let sql = "SELECT posting_id FROM raw_streams WHERE posting_id = ANY($1::text[]) FOR UPDATE"
    typealias Row = String
    var keys: [String]
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(keys)
        return bindings
    }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(String.self) }
}

/// The events, stream heads and postings rows of the whole group in one statement.
struct WriteGroup: PostgresPreparedStatement {
    static let sql = """
        WITH input AS (SELECT k, d::jsonb AS d FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(k, d, n)),
        e AS (INSERT INTO raw_events
              SELECT nextval('raw_seq'), gen_random_uuid(), k, 1, 'posted', now(), now(), NULL, NULL, d, \(hash), \(hash)
              FROM input RETURNING position),
        s AS (INSERT INTO raw_streams SELECT k, 'c-bench', 1, 1, \(hash), 1, d::text FROM input
              ON CONFLICT (posting_id) DO UPDATE SET version = EXCLUDED.version),
        p AS (INSERT INTO raw_postings SELECT k, 'c-bench', 'Bench', 'open', 1, 0, 0, 0, '{}', 0 FROM input
              ON CONFLICT (posting_id) DO UPDATE SET status = EXCLUDED.status)
        SELECT position FROM e ORDER BY position
        """
    typealias Row = Int64
    var keys: [String]
    var data: [String]
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(keys)
        bindings.append(data)
        return bindings
    }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int64.self) }
}

/// placementd's group commit (`AppendQueue`), reduced: at most `maxGroups` leaders; a leader takes
/// every waiting request, writes them all in one transaction and hands leadership to the oldest
/// waiter.
final class GroupQueue: Sendable {
    enum Turn: Sendable { case lead, done(Result<Int64, any Error>) }
    struct Waiter: Sendable {
        var data: String
        var continuation: CheckedContinuation<Turn, Never>
    }
    private struct State {
        var waiting: [Waiter] = []
        var leaders = 0
    }
    let maxGroups: Int
    private let state = Mutex(State())
    init(maxGroups: Int) { self.maxGroups = max(1, maxGroups) }

    func append(_ data: String, client: PostgresClient, logger: Logger) async throws -> Int64 {
        let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
            let lead = state.withLock { s -> Bool in
                if s.leaders < maxGroups {
                    s.leaders += 1
                    return true
                }
                s.waiting.append(Waiter(data: data, continuation: continuation))
                return false
            }
            if lead { continuation.resume(returning: .lead) }
        }
        if case .done(let result) = turn { return try result.get() }
        let followers = state.withLock { s -> [Waiter] in
            let taken = s.waiting
            s.waiting.removeAll(keepingCapacity: true)
            return taken
        }
        let data = [data] + followers.map(\.data)
        let keys = data.map { _ in "floor-\(UInt64.random(in: 0 ... .max))" }
        let result: Result<[Int64], any Error>
        do {
            result = .success(try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                for try await _ in try await connection.execute(TakeTurn(keys: keys), logger: logger) {}
                for try await _ in try await connection.execute(ReadHeads(keys: keys), logger: logger) {}
                var positions: [Int64] = []
                for try await p in try await connection.execute(WriteGroup(keys: keys, data: data), logger: logger) {
                    positions.append(p)
                }
                try await connection.query("COMMIT", logger: logger)
                return positions
            })
        } catch {
            result = .failure(error)
        }
        for (i, follower) in followers.enumerated() {
            follower.continuation.resume(returning: .done(result.map { $0[i + 1] }))
        }
        let next = state.withLock { s -> Waiter? in
            if s.waiting.isEmpty {
                s.leaders -= 1
                return nil
            }
            return s.waiting.removeFirst()
        }
        next?.continuation.resume(returning: .lead)
        return try result.get()[0]
    }
}
