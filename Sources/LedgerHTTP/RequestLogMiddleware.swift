public import Hummingbird
import Logging

/// One log line per request, after it is answered: method, path, status, duration and the key
/// that made it (its id, never the secret).
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext
    let metrics: LedgerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        metrics.request(
            method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: response.status.code, elapsed: elapsed)
        // The line's metadata is built only when it would be written (swift-log checks the level
        // only inside `info`, after the arguments exist).
        guard context.logger.logLevel <= .info else { return response }
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let metadata: Logger.Metadata = [
            "http.method": "\(request.method)", "http.path": "\(request.uri.path)",
            "http.status": "\(response.status.code)", "http.duration_ms": "\((ms * 100).rounded() / 100)",
        ]
        context.logger.info("request", metadata: context.identified.metadata(metadata))
        return response
    }
}
