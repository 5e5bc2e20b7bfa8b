public import Logging
import LedgerCore
public import PostgresNIO
public import ServiceLifecycle

/// Seals new events periodically, so that an auditor's published digest is never far behind.
public struct SealService: Service, CustomStringConvertible {
    let integrity: Integrity
    let interval: Duration
    let keyring: SealKeyring?
    let logger: Logger

    public var description: String { "SealService" }

    /// `keyring`: where the signing key's private half is (nil: none; the service then says each
    /// round why it cannot seal).
    public init(client: any DatabaseClient, interval: Duration, keyring: SealKeyring?, logger: Logger) {
        self.integrity = Integrity(client: client, logger: logger)
        self.interval = interval
        self.keyring = keyring
        self.logger = logger
    }

    public func run() async throws {
        // A graceful shutdown cancels the wait (or a seal under way, which then rolls back).
        try await cancelWhenGracefulShutdown { await self.loop() }
    }

    private func loop() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                let signer = try await integrity.signer(from: keyring)
                if let seal = try await integrity.seal(signer: signer) {
                    logger.info(
                        "sealed",
                        metadata: [
                            "ledger.seal": "\(seal.sequence)", "ledger.upto_position": "\(seal.uptoPosition)",
                            "ledger.events": "\(seal.eventCount)", "ledger.seal_digest": "\(Hex.encode(seal.digest))",
                        ])
                }
            } catch let error as SealKeyError {
                logger.error("cannot seal", metadata: ["ledger.error": "\(error.message)"])
            } catch {
                // The database may be down for a moment; the next round tries again.
                logger.warning("sealing failed; will retry", metadata: ["ledger.error": "\(describe(error))"])
            }
        }
    }
}
