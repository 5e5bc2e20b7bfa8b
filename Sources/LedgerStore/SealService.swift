public import Logging
public import PostgresNIO
public import ServiceLifecycle

/// Seals new events periodically, so that an auditor's published digest is never far behind.
public struct SealService: Service, CustomStringConvertible {
    let integrity: Integrity
    let interval: Duration
    let logger: Logger

    public var description: String { "SealService" }

    public init(client: PostgresClient, interval: Duration, logger: Logger) {
        self.integrity = Integrity(client: client, logger: logger)
        self.interval = interval
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
                if let seal = try await integrity.seal() {
                    logger.info(
                        "sealed",
                        metadata: [
                            "ledger.seal": "\(seal.sequence)", "ledger.upto_position": "\(seal.uptoPosition)",
                            "ledger.events": "\(seal.eventCount)",
                        ])
                }
            } catch {
                // The database may be down for a moment; the next round tries again.
                logger.warning("sealing failed; will retry", metadata: ["ledger.error": "\(describe(error))"])
            }
        }
    }
}
