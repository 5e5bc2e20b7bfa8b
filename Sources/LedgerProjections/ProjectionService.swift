public import Logging
public import PostgresNIO
public import ServiceLifecycle
public import LedgerStore

/// Prepares the projections when the daemon starts (see `ProjectionRunner.prepare`): creates them,
/// attaches them to the appends, and rebuilds one whose version changed while the old tables keep
/// serving. The database may not be reachable yet: it retries until it is. Then it waits for the
/// daemon's shutdown; the appends write the read models from there on.
public struct ProjectionService: Service, CustomStringConvertible {
    let runner: ProjectionRunner

    public var description: String { "ProjectionService" }

    public init(client: any DatabaseClient, logger: Logger) {
        runner = ProjectionRunner(client: client, logger: logger)
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await runner.prepare { progress in
                        runner.logger.debug(
                            "building projection",
                            metadata: ["projection": "\(progress.projection)", "events": "\(progress.events)", "total": "\(progress.total)"])
                    }
                    break
                } catch {
                    if Task.isCancelled { return }
                    runner.logger.warning("cannot prepare projections; retrying", metadata: ["error": "\(describe(error))"])
                    try? await Task.sleep(for: .seconds(2))
                }
            }
        }
        try? await gracefulShutdown()
    }
}
