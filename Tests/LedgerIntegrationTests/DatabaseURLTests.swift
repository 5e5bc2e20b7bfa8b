import Foundation
@testable import LedgerStore
import PostgresNIO
import Testing

@Suite("Database URLs")
struct DatabaseURLTests {
    private func parse(_ url: String) throws -> DatabaseEndpoint { try DatabaseEndpoint.parse(url: url) }

    @Test("a TCP host without sslmode is verify-full: prefer would fall back to plaintext for anyone on the path")
    func remoteHostsVerifyByDefault() throws {
        #expect(try parse("postgres://u:p@db.internal:5432/placement").tls == .verifyFull)
        #expect(try parse("postgres://u@10.0.0.5/placement").tls == .verifyFull)
        #expect(try parse("postgres://u@db.internal/placement?sslmode=require").tls == .require)
        #expect(try parse("postgres://u@db.internal/placement?sslmode=disable").tls == .disable)
        #expect(try parse("postgres://u@db.internal/placement?sslmode=verify-ca").tls == .verifyFull)
    }

    @Test("loopback hosts default to prefer; a unix socket has no TLS")
    func localConnections() throws {
        #expect(try parse("postgres://u@127.0.0.1:5432/p").tls == .prefer)
        #expect(try parse("postgres://u@localhost/p").tls == .prefer)
        #expect(try parse("postgres://u@[::1]:5432/p").tls == .prefer)
        let socket = try parse("postgres://u@localhost/p?host=/run/postgresql")
        #expect(socket.tls == .disable)
        #expect(socket.summary.hasPrefix("socket /run/postgresql/.s.PGSQL.5432"))
    }

    @Test("sslrootcert names the authorities to trust, and must be readable")
    func rootCertificates() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID().uuidString).pem").path
        try Data("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try parse("postgres://u@db.internal/p?sslrootcert=\(file)").tlsRootCertificates == file)
        #expect(try parse("postgres://u@db.internal/p?sslrootcert=system").tlsRootCertificates == nil)
        #expect(throws: ConfigurationError.self) { try parse("postgres://u@db.internal/p?sslrootcert=/nonexistent/ca.pem") }
    }

    @Test("a URL may name several hosts: each is read with the URL's user, database and query, in order")
    func severalHosts() throws {
        let hosts = try DatabaseEndpoint.parseHosts(url: "postgres://u:p%40ss@db-a:5433,db-b,10.0.0.7:6000/ledger?sslmode=require&target_session_attrs=read-write")
        #expect(hosts.count == 3)
        #expect(hosts.map(\.summary) == ["db-a:5433, user u, database ledger", "db-b:5432, user u, database ledger", "10.0.0.7:6000, user u, database ledger"])
        #expect(hosts.allSatisfy { $0.password == "p@ss" && $0.tls == .require })
        #expect(try DatabaseEndpoint.parseHosts(url: "postgres://u@db-a/ledger").count == 1)
        #expect(try DatabaseEndpoint.parseHosts(url: "postgres://u@a,b/ledger?target_session_attrs=primary").count == 2)
    }

    @Test("several hosts: an empty entry, a socket or a target_session_attrs other than read-write is refused")
    func severalHostsRefused() throws {
        for url in [
            "postgres://u@a,,b/ledger", "postgres://u@a,b/ledger?target_session_attrs=any",
            "postgres://u@a,b/ledger?target_session_attrs=read-only", "postgres://u@a,b/ledger?host=/run/postgresql",
        ] {
            #expect(throws: ConfigurationError.self, "\(url)") { try DatabaseEndpoint.parseHosts(url: url) }
        }
    }

    @Test("a URL is never repeated with its password, also when it names several hosts")
    func redaction() {
        #expect(DatabaseEndpoint.redacted("postgres://u:secret@a:1,b:2/db") == "postgres://u:****@a:1,b:2/db")
        #expect(DatabaseEndpoint.redacted("postgres://u:secret@a/db?x=1") == "postgres://u:****@a/db?x=1")
        #expect(DatabaseEndpoint.redacted("postgres://u@a/db") == "postgres://u@a/db")
        let error = #expect(throws: ConfigurationError.self) { try DatabaseEndpoint.parseHosts(url: "postgres://u:secret@a,,b/db") }
        #expect(error?.message.contains("secret") == false)
    }

    @Test("TCP connections ask the server for keepalives and a user timeout, and PostgreSQL accepts them at startup")
    func tcpKeepalives() async throws {
        let tcp = try DatabaseEndpoint.parse(url: "postgresql://app@127.0.0.1:5432/placement")
        let names = tcp.startupParameters.map(\.0)
        #expect(names.contains("tcp_user_timeout") && names.contains("tcp_keepalives_idle") && names.contains("search_path"))
        let socket = try DatabaseEndpoint.parse(url: "postgresql://app@/placement?host=/tmp")
        #expect(socket.startupParameters.map(\.0) == ["search_path"])
        // Sent over the test cluster's socket (where PostgreSQL ignores them): a wrong name or value
        // would refuse every connection at startup.
        try await TestLedger.with { ledger in
            var configuration = try ledger.app.connectionConfiguration
            configuration.options.additionalStartupParameters = DatabaseEndpoint.startupParameters + DatabaseEndpoint.tcpStartupParameters
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: TestCluster.logger)
            var value = ""
            for try await v in try await connection.query("SELECT current_setting('search_path')", logger: TestCluster.logger).decode(String.self) {
                value = v
            }
            #expect(value == "public")
            try await connection.close()
        }
    }
}
