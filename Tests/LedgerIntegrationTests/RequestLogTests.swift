import Hummingbird
import HummingbirdTesting
import LedgerHTTP
import LedgerProjections
import LedgerStore
import Logging
import Synchronization
import Testing

/// Captures log records in memory.
final class CapturedLogs: Sendable {
    struct Record: Sendable {
        var message: String
        var metadata: Logger.Metadata
    }

    let records = Mutex<[Record]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(logs: self) }
    }

    struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = metadata
            all.merge(event.metadata ?? [:]) { $1 }
            logs.records.withLock { $0.append(Record(message: "\(event.message)", metadata: all)) }
        }
    }
}

@Suite("Request log")
struct RequestLogTests {
    @Test("one line per request with method, path, status, duration and the id (never the secret) of the key that made it")
    func requestLinesNameTheKey() async throws {
        try await TestLedger.with { ledger in
            let created = try await ledger.database.withClient(owner: true, logger: TestCluster.logger) { owner in
                try await KeyStore(client: owner, logger: TestCluster.logger).create(role: .admin, orgID: nil)
            }
            let logs = CapturedLogs()
            let api = LedgerAPI(store: ledger.store, keys: KeyCache(keys: KeyStore(client: ledger.store.client, logger: TestCluster.logger)))
            let app = Application(router: api.buildRouter(), logger: logs.logger)
            try await app.test(.router) { client in
                _ = try await client.call(.get, "/v1/me", key: created.secret)
                _ = try await client.call(.get, "/v1/me", key: "plk_000000000000_" + String(repeating: "0", count: 64))
                _ = try await client.call(.get, "/healthz")
            }
            let lines = logs.records.withLock { $0 }.filter { $0.message == "request" }
            #expect(lines.count == 3)
            guard lines.count == 3 else { return }
            #expect(lines[0].metadata["http.path"] == "/v1/me")
            #expect(lines[0].metadata["http.status"] == "200")
            #expect(lines[0].metadata["ledger.key"] == .string(created.key.id))
            #expect(lines[0].metadata["http.duration_ms"] != nil)
            #expect(lines[1].metadata["http.status"] == "401")
            #expect(lines[1].metadata["ledger.key"] == nil)
            #expect(lines[2].metadata["ledger.key"] == nil)
            let everything = logs.records.withLock { $0 }.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n")
            #expect(!everything.contains(created.secret))
        }
    }
}
