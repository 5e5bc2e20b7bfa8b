public import Logging
public import PostgresNIO
public import ServiceLifecycle

/// Runs every projection's live worker in the daemon's service group. Each worker holds its
/// projection's lease, so several daemons on one database run each projection once.
public struct ProjectionService: Service, CustomStringConvertible {
    let runner: ProjectionRunner

    public var description: String { "ProjectionService" }

    let appends: AppendSignal

    public init(client: PostgresClient, logger: Logger, appends: AppendSignal) {
        runner = ProjectionRunner(client: client, logger: logger, localAppends: appends)
        self.appends = appends
    }

    /// Tells other processes (other daemons' workers) that events were appended: at most one
    /// NOTIFY per `interval`, outside the append transactions. NOTIFY takes a global lock at commit,
    /// so sending it from every append transaction would serialise their commits (and fsyncs).
    func notifyOthers(interval: Duration = .milliseconds(50)) async {
        let wakeup = Wakeup()
        let id = appends.register(wakeup)
        defer { appends.unregister(id) }
        while !Task.isCancelled {
            // The highest position appended since the last NOTIFY is its payload (see `listenForOthers`).
            guard let upTo = await wakeup.wait(timeout: .seconds(3600)) else { continue }
            if Task.isCancelled { return }
            let payload = String(upTo)
            do {
                // Given up after a while like every statement of the workers (see `abandoning`).
                let runner = self.runner
                try await abandoning(after: .seconds(5)) {
                    try await runner.client.query("SELECT pg_notify(\(ProjectionEngine.channel), \(payload))", logger: runner.logger)
                }
            } catch {
                runner.logger.debug("notify failed", metadata: ["error": "\(describe(error))"])
            }
            try? await Task.sleep(for: interval)
        }
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
            // The listener is not awaited on the way out: a listening connection that hangs while
            // it closes (see `listenForOthers`) must not hold up the daemon's shutdown.
            let listener = Task { await runner.listenForOthers() }
            defer { listener.cancel() }
            await withDiscardingTaskGroup { group in
                group.addTask { await notifyOthers() }
                for definition in runner.definitions {
                    group.addTask { await runner.runLive(definition) }
                }
            }
        }
    }
}
