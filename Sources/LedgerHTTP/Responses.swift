public import Foundation
public import Hummingbird
public import HTTPTypes
public import LedgerCore
import LedgerStore
import LedgerProjections
import PostgresNIO

extension HTTPField.Name {
    static let ledgerPosition = Self("X-Ledger-Position")!
    /// The error code of an error response, for logs and metrics without parsing the body.
    static let ledgerErrorCode = Self("X-Ledger-Error")!
}

/// JSON responses, always in the canonical serialisation the ledger uses everywhere.
enum Reply {
    static func json(_ status: HTTPResponse.Status, _ body: JSON, position: Int64? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let position { headers[.ledgerPosition] = String(position) }
        var bytes = body.canonicalBytes
        bytes.append(0x0A)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func csv(_ text: String, filename: String, position: Int64?) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(filename)\"",
        ]
        if let position { headers[.ledgerPosition] = String(position) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func error(_ error: LedgerError) -> Response {
        var response = json(status(for: error.code), error.json)
        response.headers[.ledgerErrorCode] = error.code.rawValue
        if error.code == .unavailable || error.code == .projectionLagging { response.headers[.retryAfter] = "2" }
        if error.code == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }

    /// The contract's status for each error code.
    static func status(for code: ErrorCode) -> HTTPResponse.Status {
        switch code {
        case .invalidJSON, .invalidField: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .versionConflict, .idConflict: .conflict
        case .payloadTooLarge: .contentTooLarge
        case .unavailable, .projectionLagging: .serviceUnavailable
        default: .unprocessableContent
        }
    }
}

/// Converts every error a handler throws into the contract's error shape: domain errors with their
/// codes, database trouble as 503 `unavailable` (with Retry-After), anything else as a 500 whose
/// details go to the log only.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext
    let metrics: LedgerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await answer(request, context: context, next: next)
        if response.status.code >= 400 {
            metrics.rejected(response.headers[.ledgerErrorCode] ?? (response.status.code >= 500 ? "internal" : "other"))
        }
        return response
    }

    private func answer(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as LedgerError {
            return Reply.error(error)
        } catch let error as HTTPError {
            switch error.status {
            case .notFound: return Reply.error(LedgerError(.notFound, "no such route: \(request.method) \(request.uri.path)"))
            case .contentTooLarge:
                return Reply.error(LedgerError(.payloadTooLarge, "the body is larger than \(BatchLimits.maxBytes) bytes"))
            case .methodNotAllowed:
                var reply = Reply.error(LedgerError(.notFound, "\(request.method) is not supported on \(request.uri.path)"))
                reply.status = .methodNotAllowed
                return reply
            default:
                return Reply.json(error.status, LedgerError(.invalidField, error.body ?? error.status.reasonPhrase).json)
            }
        } catch {
            if DatabaseTrouble.isUnavailable(error) {
                context.logger.warning("database unavailable", metadata: ["ledger.error": "\(describe(error))"])
                return Reply.error(LedgerError(.unavailable, "the ledger's database is unavailable; retry shortly with the same event ids (an event that was recorded is answered as a retry, never recorded twice)"))
            }
            // `describe` gives the server's message and SQLSTATE, never the statement or its bound
            // values (which may carry a request's data).
            context.logger.error("internal error", metadata: ["ledger.error": "\(describe(error))", "ledger.error_type": "\(type(of: error))"])
            return Reply.json(
                .internalServerError,
                .object(["error": .object(["code": .string("internal"), "message": .string("internal error; it has been logged")])]))
        }
    }
}

enum DatabaseTrouble {
    /// Connection failures, timeouts, a server shutting down: the client should retry.
    static func isUnavailable(_ error: any Error) -> Bool {
        if error is DeadlineExceeded || error is CancellationError { return true }
        // The pool's own errors: a connection request cancelled (with the request that led a group
        // commit, whose companions share its outcome) or a pool shut down. Its module is
        // underscored, so the type is matched by name.
        if String(reflecting: type(of: error)).hasSuffix(".ConnectionPoolError") { return true }
        guard let psql = error as? PSQLError else { return false }
        if let state = psql.serverInfo?[.sqlState] {
            // 08: connection exceptions; 57P: operator intervention (shutdown, crash recovery); 53: resources;
            // 25006: a read-only transaction (the server is a standby, e.g. the old primary after a failover).
            return state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53") || state == "25006"
        }
        return true  // no server answer at all: connection closed, refused, timed out
    }
}

struct DeadlineExceeded: Error {}

/// Runs `body`, giving up after `limit` (a database that hangs must not hang the request).
///
/// Past the limit the body is cancelled, but a statement already sent cannot be withdrawn: when the
/// body still finishes within a short grace (an append whose COMMIT was under way), its real
/// outcome is the answer, so a deadline does not turn a recorded append into a 503. A body that
/// fails after the limit, or does not finish in the grace either, answers `DeadlineExceeded`; an
/// error the ledger itself chose (a broken rule) stands as it is.
func withDeadline<R: Sendable>(
    _ limit: Duration, grace: Duration = .seconds(2), _ body: @escaping @Sendable () async throws -> R
) async throws -> R {
    let clock = ContinuousClock()
    let start = clock.now
    do {
        return try await abandoning(after: limit + grace, cancelAfter: limit, body)
    } catch let error as LedgerError {
        throw error
    } catch {
        if error is Abandoned || clock.now - start >= limit { throw DeadlineExceeded() }
        throw error
    }
}
