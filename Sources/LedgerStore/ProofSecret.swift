public import LedgerCore
public import Logging
public import PostgresNIO
import Synchronization

extension ProofKey {
    /// The ledger's proof secret (migration 008 makes it). Never served: the daemon hashes with it,
    /// and a proof discloses only what it derives for one student.
    public static func load(on connection: PostgresConnection, logger: Logger) async throws -> ProofKey {
        for try await secret in try await connection.query("SELECT secret FROM proof_secret", logger: logger).decode(ByteBuffer.self) {
            return ProofKey(secret: Array(secret.readableBytesView))
        }
        throw LedgerError(.unavailable, "the ledger has no proof secret: run `placementctl migrate`")
    }
}

/// A proof key read once per process, on first need.
final class ProofKeyCache: Sendable {
    private let cached = Mutex<ProofKey?>(nil)

    func key(on connection: PostgresConnection, logger: Logger) async throws -> ProofKey {
        if let key = cached.withLock({ $0 }) { return key }
        let key = try await ProofKey.load(on: connection, logger: logger)
        cached.withLock { $0 = key }
        return key
    }
}
