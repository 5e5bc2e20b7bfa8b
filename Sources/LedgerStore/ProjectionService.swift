public import Logging
public import PostgresNIO
public import ServiceLifecycle

/// Runs every projection's live worker in the daemon's service group. Each worker holds its
/// projection's lease, so several daemons on one database run each projection once.
public struct ProjectionService: Service, CustomStringConvertible {
    let runner: ProjectionRunner

    public var description: String { "ProjectionService" }

    public init(client: PostgresClient, logger: Logger) {
        runner = ProjectionRunner(client: client, logger: logger)
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            // The database may not be reachable at start; the workers retry until it is.
            while !Task.isCancelled {
                do {
                    try await runner.prepare()
                    break
                } catch {
                    runner.logger.warning("cannot prepare projections; retrying", metadata: ["error": "\(describe(error))"])
                    try? await Task.sleep(for: .seconds(2))
                }
            }
            await withDiscardingTaskGroup { group in
                for definition in runner.definitions {
                    group.addTask { await runner.runLive(definition) }
                }
            }
        }
    }
}
