import Foundation
public import Logging
public import PostgresNIO

/// Where the ledger's PostgreSQL is: an external server named by a URL, or the embedded cluster.
public enum DatabaseLocation: Sendable, Equatable {
    case url(String)
    case embedded(dataDirectory: String)

    /// `--database-url` beats `PLACEMENT_DATABASE_URL`; with neither, the embedded cluster in
    /// `--data-dir` (default `./.placement-data`, or `PLACEMENT_DATA_DIR`).
    public static func resolve(databaseURL: String?, dataDirectory: String?, environment: [String: String]) -> DatabaseLocation {
        if let url = databaseURL ?? environment["PLACEMENT_DATABASE_URL"], !url.isEmpty { return .url(url) }
        return .embedded(dataDirectory: dataDirectory ?? environment["PLACEMENT_DATA_DIR"] ?? EmbeddedCluster.defaultDataDirectory)
    }
}

public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The hosts of a database URL that names several, in its order, and the one in use.
public struct DatabaseHosts: Sendable {
    public var endpoints: [DatabaseEndpoint]
    public var current: Int
    public init(endpoints: [DatabaseEndpoint], current: Int) {
        self.endpoints = endpoints
        self.current = current
    }
}

/// How to reach one PostgreSQL database as one user; converts to PostgresNIO's client (pool) and
/// single-connection configurations.
public struct DatabaseEndpoint: Sendable {
    public enum Address: Sendable { case socket(path: String), tcp(host: String, port: Int) }
    public enum TLSMode: String, Sendable { case disable, prefer, require, verifyFull = "verify-full" }

    public var address: Address
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// A PEM file of the certificate authorities to trust (`sslrootcert`); nil: the system's.
    public var tlsRootCertificates: String?

    public init(
        address: Address, username: String, password: String? = nil, database: String, tls: TLSMode = .disable,
        tlsRootCertificates: String? = nil
    ) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.tlsRootCertificates = tlsRootCertificates
    }

    /// Whether `host` is this machine (no network in between to strip TLS).
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// Parses `postgres://user:password@host:port/database?sslmode=disable|prefer|require|verify-full`
    /// (also `postgresql://`, `&sslrootcert=/path/ca.pem`, and `?host=/socket/dir` for a unix socket).
    ///
    /// Without `sslmode`, a TCP host is `verify-full`: `prefer` falls back to plaintext whenever
    /// the server does not offer TLS, which anyone on the path can arrange. Loopback hosts default
    /// to `prefer`, and a unix socket has no TLS.
    public static func parse(url text: String) throws(ConfigurationError) -> DatabaseEndpoint {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw ConfigurationError(
                "the database URL must look like postgres://user:password@host:5432/database (got \(redacted(text)))")
        }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        let user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        let password = components.password.flatMap { $0.removingPercentEncoding }
        var database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        if database.isEmpty { database = user }
        let port = components.port ?? 5432
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            return DatabaseEndpoint(
                address: .socket(path: "\(socketDirectory)/.s.PGSQL.\(port)"), username: user, password: password,
                database: database)
        }
        guard let host = components.host, !host.isEmpty else {
            throw ConfigurationError("the database URL names no host (got \(redacted(text)))")
        }
        let mode = query["sslmode"] ?? (isLoopback(host) ? "prefer" : "verify-full")
        guard let tls = TLSMode(rawValue: mode == "allow" ? "prefer" : mode == "verify-ca" ? "verify-full" : mode) else {
            throw ConfigurationError("sslmode \(mode) is not one of disable, prefer, require, verify-full")
        }
        var roots: String?
        if let path = query["sslrootcert"], !path.isEmpty, path != "system" {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ConfigurationError("sslrootcert \(path) is not a readable file (a PEM bundle of the certificate authorities to trust)")
            }
            roots = path
        }
        return DatabaseEndpoint(
            address: .tcp(host: host, port: port), username: user, password: password, database: database, tls: tls,
            tlsRootCertificates: roots)
    }

    /// Parses a URL naming one server or several, `postgres://user:password@host1:5432,host2:5433/database?…`
    /// (each host as `parse(url:)` reads it, with the same user, database and query), in the URL's
    /// order. With several, `target_session_attrs` may only be `read-write` (the default here) or
    /// `primary`: the ledger appends, so it uses the first host that accepts writes, as libpq does.
    public static func parseHosts(url text: String) throws(ConfigurationError) -> [DatabaseEndpoint] {
        guard let schemeEnd = text.range(of: "://") else { return [try parse(url: text)] }
        let afterScheme = text[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        let at = authority.lastIndex(of: "@")
        let userinfo = at.map { authority[...$0] } ?? ""
        let hostList = at.map { authority[authority.index(after: $0)...] } ?? authority
        guard hostList.contains(",") else { return [try parse(url: text)] }
        let prefix = String(text[..<schemeEnd.upperBound]) + userinfo
        let rest = String(afterScheme[authorityEnd...])
        var endpoints: [DatabaseEndpoint] = []
        for host in hostList.split(separator: ",", omittingEmptySubsequences: false) {
            guard !host.isEmpty else { throw ConfigurationError("the database URL's host list has an empty entry (got \(redacted(text)))") }
            let endpoint = try parse(url: prefix + host + rest)
            guard case .tcp = endpoint.address else {
                throw ConfigurationError("a database URL with several hosts names TCP hosts only (got \(redacted(text)))")
            }
            endpoints.append(endpoint)
        }
        let query = URLComponents(string: prefix + hostList.split(separator: ",")[0] + rest)?.queryItems ?? []
        if let attrs = query.last(where: { $0.name == "target_session_attrs" })?.value, attrs != "read-write", attrs != "primary" {
            throw ConfigurationError(
                "target_session_attrs=\(attrs) is not supported: the ledger appends, so with several hosts it uses the first that accepts writes (read-write, the default)")
        }
        return endpoints
    }

    /// The URL with its password replaced by `****` (also in a URL that names several hosts,
    /// which URLComponents does not read).
    static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return "an unparsable URL" }
        let afterScheme = url[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        guard let at = afterScheme[..<authorityEnd].lastIndex(of: "@"),
            let colon = afterScheme[..<at].firstIndex(of: ":")
        else { return url }
        return String(url[..<afterScheme.index(after: colon)]) + "****" + String(url[at...])
    }

    private var tlsConfiguration: TLSConfiguration {
        var config = TLSConfiguration.makeClientConfiguration()
        if tls != .verifyFull { config.certificateVerification = .none }
        if let tlsRootCertificates { config.trustRoots = .file(tlsRootCertificates) }
        return config
    }

    /// Sent with every connection. `search_path` names only `public`: PostgreSQL's default puts a
    /// schema named after the user (`"$user"`) first, so a role allowed to create schemas (the
    /// daemon's, for its read models) could create one named after the owner with look-alike
    /// tables or functions that the owner's next `keys create` or `seal` would use.
    static let startupParameters = [("search_path", "public")]

    /// Sent too with a TCP connection: the server probes an idle connection after 10 s (every 5 s,
    /// 3 times) and drops one whose data goes unacknowledged for 20 s. A daemon cut off by the
    /// network (a cable, a firewall that drops packets) then loses its session, and with it the
    /// stream locks and the transaction it held, within half a minute instead of the kernel's
    /// default of two hours (idle) or about fifteen minutes (in flight); other daemons' appends to
    /// those streams go on. The daemon's own side is bounded by its request deadlines.
    static let tcpStartupParameters = [
        ("tcp_keepalives_idle", "10"), ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "3"), ("tcp_user_timeout", "20000"),
    ]

    public var clientConfiguration: PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch address {
        case .socket(let path):
            configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
        case .tcp(let host, let port):
            let mode: PostgresClient.Configuration.TLS =
                switch tls {
                case .disable: .disable
                case .prefer: .prefer(tlsConfiguration)
                case .require, .verifyFull: .require(tlsConfiguration)
                }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: mode)
        }
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    /// What every connection sends at startup (see `startupParameters`, `tcpStartupParameters`).
    var startupParameters: [(String, String)] {
        if case .tcp = address { return Self.startupParameters + Self.tcpStartupParameters }
        return Self.startupParameters
    }

    public var connectionConfiguration: PostgresConnection.Configuration {
        get throws {
            var configuration: PostgresConnection.Configuration
            switch address {
            case .socket(let path):
                configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
            case .tcp(let host, let port):
                let mode: PostgresConnection.Configuration.TLS =
                    switch tls {
                    case .disable: .disable
                    case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration))
                    case .require, .verifyFull: .require(try NIOSSLContext(configuration: tlsConfiguration))
                    }
                configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: mode)
            }
            configuration.options.additionalStartupParameters = startupParameters
            return configuration
        }
    }

    public var summary: String {
        switch address {
        case .socket(let path): "socket \(path), user \(username), database \(database)"
        case .tcp(let host, let port): "\(host):\(port), user \(username), database \(database)"
        }
    }
}
