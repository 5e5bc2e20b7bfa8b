import Crypto
public import LedgerCore
public import Logging
public import PostgresNIO

/// The roles of API keys.
public enum Role: String, Sendable, CaseIterable, Codable {
    case platform, company, university, admin

    /// Company and university keys are bound to one organisation id.
    public var needsOrganisation: Bool { self == .company || self == .university }
}

/// An API key as stored: never the secret, only its SHA-256.
public struct APIKey: Sendable, Hashable {
    public var id: String
    public var role: Role
    public var orgID: String?
    public var secretHash: [UInt8]
    public var label: String?
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?
}

/// Key secrets look like `plk_<id>_<64 hex digits>`: the id finds the record, the whole secret is
/// hashed and compared in constant time.
public enum KeySecret {
    public static func generate() -> (id: String, secret: String) {
        var generator = SystemRandomNumberGenerator()
        let idBytes = (0..<6).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let secretBytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let id = Hex.encode(idBytes)
        return (id, "plk_\(id)_\(Hex.encode(secretBytes))")
    }

    /// The id part of a well-formed secret.
    public static func id(of secret: String) -> String? {
        let parts = secret.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "plk", parts[1].count == 12, parts[2].count == 64,
            Hex.decode(String(parts[1])) != nil, Hex.decode(String(parts[2])) != nil
        else { return nil }
        return String(parts[1])
    }

    public static func hash(_ secret: String) -> [UInt8] { Array(SHA256.hash(data: Array(secret.utf8))) }

    /// Compares without an early exit, so timing does not reveal how much matched.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}

/// Key records in PostgreSQL.
public struct KeyStore: Sendable {
    let client: any DatabaseClient
    let logger: Logger

    public init(client: any DatabaseClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Creates a key and returns its secret (shown once; only its hash is stored).
    public func create(role: Role, orgID: String?, label: String? = nil) async throws -> (secret: String, key: APIKey) {
        if role.needsOrganisation {
            guard let orgID, Identifier.isValid(orgID) else {
                throw LedgerError(.invalidField, "a \(role.rawValue) key needs --org with the \(role.rawValue)'s id", field: "org")
            }
        } else if orgID != nil {
            throw LedgerError(.invalidField, "a \(role.rawValue) key is not bound to an organisation: leave out --org", field: "org")
        }
        let (id, secret) = KeySecret.generate()
        let hash = KeySecret.hash(secret)
        try await client.query(
            """
            INSERT INTO api_keys (id, role, org_id, secret_hash, label)
            VALUES (\(id), \(role.rawValue), \(orgID), decode(\(Hex.encode(hash)), 'hex'), \(label))
            """, logger: logger)
        let key = APIKey(id: id, role: role, orgID: orgID, secretHash: hash, label: label, createdAt: Timestamp(microseconds: 0), revokedAt: nil)
        return (secret, key)
    }

    static let columns = """
        id, role, org_id, encode(secret_hash, 'hex'), label, (extract(epoch FROM created_at) * 1000000)::int8,
        (extract(epoch FROM revoked_at) * 1000000)::int8
        """

    public func list() async throws -> [APIKey] {
        try await keys(client.query("SELECT \(unescaped: Self.columns) FROM api_keys ORDER BY created_at, id", logger: logger))
    }

    public func find(id: String) async throws -> APIKey? {
        try await keys(client.query("SELECT \(unescaped: Self.columns) FROM api_keys WHERE id = \(id)", logger: logger)).first
    }

    /// Revokes a key; returns false when no such key exists. Revoking twice is harmless.
    public func revoke(id: String) async throws -> Bool {
        var found = false
        let rows = try await client.query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = \(id) RETURNING id", logger: logger)
        for try await _ in rows.decode(String.self) { found = true }
        return found
    }

    private func keys(_ rows: PostgresRowSequence) async throws -> [APIKey] {
        var keys: [APIKey] = []
        for try await (id, roleName, org, hashHex, label, created, revoked) in rows.decode(
            (String, String, String?, String, String?, Int64, Int64?).self)
        {
            // Fail closed: a key whose role this code does not know grants nothing.
            guard let role = Role(rawValue: roleName) else {
                logger.warning("ignoring an API key with an unknown role", metadata: ["key_id": "\(id)", "role": "\(roleName)"])
                continue
            }
            keys.append(
                APIKey(
                    id: id, role: role, orgID: org, secretHash: Hex.decode(hashHex) ?? [],
                    label: label, createdAt: Timestamp(microseconds: created), revokedAt: revoked.map(Timestamp.init(microseconds:))))
        }
        return keys
    }
}
