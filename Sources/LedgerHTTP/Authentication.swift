public import Hummingbird
public import LedgerCore
public import LedgerStore
public import LedgerProjections

/// Resolves bearer secrets to principals. Key records are cached for at most `ttl` (one second), so
/// a revocation reaches a running daemon within a second without a database round trip per request.
///
/// Unauthenticated callers must not be able to make the daemon work for them: the cache holds at
/// most about `limit` ids in two generations (an id used again moves to the newer one; the older
/// one is dropped whole when the newer fills), so a flood of unknown ids pushes out other unknown
/// ids, not the keys in use. And an address whose failed authentications outrun `failures` has its
/// unknown ids refused without a database lookup until it slows down; ids known to be real keys
/// are still looked up, so a client sharing that address keeps working.
public actor KeyCache {
    struct Entry {
        var key: APIKey?
        var fetched: ContinuousClock.Instant
    }

    let keys: KeyStore
    let ttl: Duration
    private var entries: RecentlyUsed<String, Entry>
    private var failures: FailureLimiter

    public init(keys: KeyStore, ttl: Duration = .seconds(1), limit: Int = 10_000, failures: FailureLimiter = FailureLimiter()) {
        self.keys = keys
        self.ttl = ttl
        self.entries = RecentlyUsed(generation: max(2, limit) / 2)
        self.failures = failures
    }

    /// The principal for a secret, or nil when the secret is malformed, unknown, wrong or revoked.
    /// `address`: the caller's IP address, for the failure limit (nil: not limited).
    public func principal(for secret: String, from address: String? = nil) async throws -> Principal? {
        guard let id = KeySecret.id(of: secret) else {
            failures.failed(address)
            return nil
        }
        let now = ContinuousClock.now
        let cached = entries.get(id)
        let key: APIKey?
        if let cached, now - cached.fetched < ttl {
            key = cached.key
        } else {
            guard cached?.key != nil || failures.allows(address) else {
                throw LedgerError(
                    .unauthorized,
                    "too many failed authentications from this address: unknown keys are refused without a lookup; wait a few seconds, then send a valid key")
            }
            // Only a miss goes to the database, so only a miss needs the deadline.
            let keys = keys
            key = try await withDeadline(.seconds(5)) { try await keys.find(id: id) }
            entries.set(Entry(key: key, fetched: now), for: id)
        }
        guard let key, key.revokedAt == nil, KeySecret.constantTimeEqual(KeySecret.hash(secret), key.secretHash) else {
            failures.failed(address)
            return nil
        }
        return Principal(keyID: key.id, role: key.role, orgID: key.orgID)
    }

    /// Ids cached now (both generations).
    public var count: Int { entries.count }
}

/// Failed authentications per address, as token buckets: each address may fail `burst` times at
/// once and `perSecond` times a second after that. Addresses are remembered in two generations of
/// at most `limit / 2`, like the key cache.
public struct FailureLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var at: ContinuousClock.Instant
    }

    let burst: Double
    let perSecond: Double
    private var buckets: RecentlyUsed<String, Bucket>

    public init(burst: Int = 50, perSecond: Int = 5, limit: Int = 10_000) {
        self.burst = Double(burst)
        self.perSecond = Double(perSecond)
        self.buckets = RecentlyUsed(generation: max(2, limit) / 2)
    }

    /// The bucket of `address`, refilled for the time since it was last seen.
    private mutating func bucket(_ address: String) -> Bucket {
        let now = ContinuousClock.now
        var bucket = buckets.get(address) ?? Bucket(tokens: burst, at: now)
        let elapsed = now - bucket.at
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(burst, bucket.tokens + seconds * perSecond)
        bucket.at = now
        return bucket
    }

    /// Whether `address` may have an unknown key looked up now.
    mutating func allows(_ address: String?) -> Bool {
        guard let address else { return true }
        let bucket = bucket(address)
        buckets.set(bucket, for: address)
        return bucket.tokens >= 1
    }

    mutating func failed(_ address: String?) {
        guard let address else { return }
        var bucket = bucket(address)
        bucket.tokens = max(0, bucket.tokens - 1)
        buckets.set(bucket, for: address)
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
        guard let principal = try await cache.principal(for: secret, from: context.remoteAddress) else {
            throw LedgerError(.unauthorized, "the API key is unknown, malformed or revoked")
        }
        var context = context
        context.principal = principal
        // Lines about the request take the key from here (`identified`), not from the logger's
        // metadata: setting that makes StreamLogHandler re-render its metadata on every request.
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
