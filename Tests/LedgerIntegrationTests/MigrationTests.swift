import LedgerCore
import LedgerProjections
@testable import LedgerStore
import PostgresNIO
import Testing

@Suite("Migrations")
struct MigrationTests {
    @Test("applying twice is a no-op")
    func idempotent() async throws {
        try await TestLedger.with { ledger in
            let outcome = try await ledger.asOwner { try await Migrator.migrate($0, logger: TestCluster.logger) }
            #expect(outcome.applied.isEmpty)
            #expect(outcome.currentVersion == Migration.latestVersion)
            #expect(try await ledger.count("SELECT count(*) FROM schema_migrations") == Int64(Migration.all.count))
        }
    }

    @Test("a database migrated by a newer binary is refused with a clear message")
    func newerDatabaseRefused() async throws {
        try await TestLedger.with { ledger in
            try await ledger.exec("INSERT INTO schema_migrations (version, name, checksum) VALUES (999, '999_future', 'x')")
            let error = await #expect(throws: ConfigurationError.self) {
                _ = try await LedgerDatabase.open(owner: ledger.owner, app: ledger.app, logger: TestCluster.logger)
            }
            #expect(error?.message.contains("newer than this binary") == true)
        }
    }

    @Test("the append's lock statement reaches every table by an index (its cost must not grow with the log)")
    func lockStatementUsesIndexes() async throws {
        try await TestLedger.with { ledger in
            let plan = try await ledger.asOwner { connection in
                // The plan the daemon's prepared statement gets (generic), on tables too small for
                // the planner to prefer an index by itself.
                try await connection.query("SET enable_seqscan = off", logger: TestCluster.logger)
                try await connection.query("SET plan_cache_mode = force_generic_plan", logger: TestCluster.logger)
                try await connection.query(PostgresQuery(unsafeSQL: "PREPARE lock_streams AS \(LockStreams.sql)"), logger: TestCluster.logger)
                var lines: [String] = []
                for try await line in try await connection.query(
                    "EXPLAIN EXECUTE lock_streams('{p-1}', '{ref-1}', '{00000000-0000-4000-8000-000000000000}')", logger: TestCluster.logger
                ).decode(String.self) {
                    lines.append(line)
                }
                return lines.joined(separator: "\n")
            }
            // An index condition per table: a scan of a whole index (or table) with a filter is what
            // made an append's cost grow with the number of payments ever recorded.
            for condition in ["(posting_id = ANY ($1))", "(payment_ref = ANY ($2))", "(id = wanted.wanted_id)"] {
                #expect(plan.contains("Index Cond: \(condition)"), "\(plan)")
            }
        }
    }

    @Test("the embedded copy of the migrations matches schema/")
    func embeddedMatchesSchemaDirectory() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("schema").path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.count == Migration.all.count, "run scripts/generate-migrations.py")
        for (file, migration) in zip(files, Migration.all.sorted { $0.version < $1.version }) {
            let text = try String(contentsOf: root.appendingPathComponent("schema/\(file)"), encoding: .utf8)
            #expect(file == migration.name + ".sql")
            #expect(text == migration.sql, "\(file) differs from its embedded copy: run scripts/generate-migrations.py")
        }
    }

    @Test("scripts split at top-level semicolons only")
    func sqlScriptSplitting() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE t (a text DEFAULT 'x;y');
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no; never'; END $$;
            /* block; comment */ SELECT 1;
            DO $body$ BEGIN PERFORM 1; END $body$
            """
        let statements = SQLScript.statements(script)
        #expect(statements.count == 4)
        #expect(statements[1].hasPrefix("CREATE FUNCTION") && statements[1].hasSuffix("END $$"))
        #expect(statements[3].hasPrefix("DO $body$"))
    }
}

import Foundation
