public import Hummingbird
public import LedgerCore
public import LedgerStore
public import LedgerProjections

/// Resolves bearer secrets to principals. Key records are cached for at most `ttl` (one second), so
/// a revocation reaches a running daemon within a second without a database round trip per request.
public actor KeyCache {
    let keys: KeyStore
    let ttl: Duration
    private var entries: [String: (key: APIKey?, fetched: ContinuousClock.Instant)] = [:]

    public init(keys: KeyStore, ttl: Duration = .seconds(1)) {
        self.keys = keys
        self.ttl = ttl
    }

    /// The principal for a secret, or nil when the secret is malformed, unknown, wrong or revoked.
    public func principal(for secret: String) async throws -> Principal? {
        guard let id = KeySecret.id(of: secret) else { return nil }
        let key: APIKey?
        if let entry = entries[id], ContinuousClock.now - entry.fetched < ttl {
            key = entry.key
        } else {
            // Only a miss goes to the database, so only a miss needs the deadline.
            let keys = keys
            key = try await withDeadline(.seconds(5)) { try await keys.find(id: id) }
            if entries.count > 10_000 { entries.removeAll() }
            entries[id] = (key, .now)
        }
        guard let key, key.revokedAt == nil, KeySecret.constantTimeEqual(KeySecret.hash(secret), key.secretHash) else {
            return nil
        }
        return Principal(keyID: key.id, role: key.role, orgID: key.orgID)
    }
}

/// Requires `Authorization: Bearer <key>` on every route it wraps.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext
    let cache: KeyCache

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw LedgerError(.unauthorized, "send an API key: Authorization: Bearer <key> (create one with `placementctl keys create`)")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw LedgerError(.unauthorized, "the Authorization header must be `Bearer <key>`")
        }
        let cache = cache
        let secret = String(parts[1]).trimmingCharacters(in: .whitespaces)
        guard let principal = try await cache.principal(for: secret) else {
            throw LedgerError(.unauthorized, "the API key is unknown, malformed or revoked")
        }
        var context = context
        context.principal = principal
        context.logger[metadataKey: "ledger.key"] = .string(principal.keyID)
        context.identified.keyID = principal.keyID
        return try await next(request, context)
    }
}

import Foundation

extension LedgerRequestContext {
    /// The caller; the authentication middleware guarantees one on `/v1` routes.
    var caller: Principal {
        get throws {
            guard let principal else { throw LedgerError(.unauthorized, "send an API key: Authorization: Bearer <key>") }
            return principal
        }
    }

    func require(_ roles: Role..., action: String) throws -> Principal {
        let principal = try caller
        guard roles.contains(principal.role) else {
            throw LedgerError(.forbidden, "a \(principal.role.rawValue) key may not \(action)")
        }
        return principal
    }
}
