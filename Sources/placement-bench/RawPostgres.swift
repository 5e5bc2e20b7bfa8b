import Foundation
import LedgerProjections
import LedgerStore

/// The raw PostgreSQL baseline: pgbench and psql against the same server, same database, same
/// durability settings as the ledger, on a table equivalent to `events` (same columns, same
/// indexes and constraints, no triggers).
struct RawPostgres: Sendable {
    let cluster: EmbeddedCluster?
    let url: String?
    let binDirectory: String

    /// Runs a PostgreSQL client program (pgbench, psql) against the ledger's database.
    func run(_ tool: String, _ arguments: [String]) throws -> String {
        if let cluster {
            let argv = arguments + ["-h", cluster.socketDirectory, "-U", EmbeddedCluster.ownerUser, EmbeddedCluster.databaseName]
            let result = try cluster.run(cluster.tool(tool), argv, asServerUser: true)
            guard result.status == 0 else { throw LoadError("\(tool) \(arguments.joined(separator: " ")) failed:\n\(result.output.suffix(2000))") }
            return result.output
        }
        return try runChecked([binDirectory + "/" + tool] + arguments + [url ?? ""])
    }

    func psql(_ sql: String) throws -> String {
        try run("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
    }

    /// A fresh copy of the events table's shape.
    func createTable(_ name: String) throws {
        _ = try psql(
            """
            DROP TABLE IF EXISTS \(name); DROP SEQUENCE IF EXISTS \(name)_seq;
            CREATE TABLE \(name) (LIKE events INCLUDING ALL); CREATE SEQUENCE \(name)_seq;
            """)
    }

    struct PgbenchResult {
        var tps: Double
        var latencyAverageMilliseconds: Double
        var transactions: Int
    }

    /// pgbench with a custom script: `clients` clients for `seconds`, prepared statements.
    func pgbench(script: String, clients: Int, seconds: Int, directory: String) throws -> PgbenchResult {
        let path = directory + "/pgbench-\(UInt32.random(in: 0...UInt32.max)).sql"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        defer { unlink(path) }
        let output = try run(
            "pgbench", ["-n", "-M", "prepared", "-c", String(clients), "-j", String(min(clients, 2)), "-T", String(seconds), "-f", path])
        func number(after prefix: String) -> Double? {
            guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
            return Double(line.dropFirst(prefix.count).split(separator: " ").first ?? "")
        }
        guard let tps = number(after: "tps = ") else { throw LoadError("pgbench printed no tps:\n\(output.suffix(2000))") }
        return PgbenchResult(
            tps: tps, latencyAverageMilliseconds: number(after: "latency average = ") ?? 0,
            transactions: Int(number(after: "number of transactions actually processed: ") ?? 0))
    }

    /// One row of the raw table: what an append writes to `events`.
    static func rowValues(table: String, data: String) -> String {
        let hash = String(repeating: "ab", count: 32)
        let escaped = data.replacingOccurrences(of: "'", with: "''")
        return """
            (nextval('\(table)_seq'), gen_random_uuid(), 'raw-' || gen_random_uuid(), 1, 'applied', now(), now(), NULL, 'bench', \
            '\(escaped)'::jsonb, '\\x\(hash)'::bytea, '\\x\(hash)'::bytea)
            """
    }

    static func insertScript(table: String, rows: Int, data: String) -> String {
        let values = (0..<rows).map { _ in rowValues(table: table, data: data) }.joined(separator: ",\n")
        return "INSERT INTO \(table) (position, id, posting_id, version, type, occurred_at, recorded_at, expected_version, actor, data, prev_hash, hash) VALUES\n\(values);\n"
    }
}
