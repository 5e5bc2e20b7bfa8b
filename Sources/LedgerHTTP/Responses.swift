public import Foundation
public import Hummingbird
public import HTTPTypes
public import LedgerCore
import LedgerStore
import LedgerProjections

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
        case .versionConflict, .idConflict, .notSealed, .notProvable: .conflict
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
                context.logger.warning("database unavailable", metadata: context.identified.metadata(["ledger.error": "\(describe(error))"]))
                return Reply.error(LedgerError(.unavailable, "the ledger's database is unavailable; retry shortly with the same event ids (an event that was recorded is answered as a retry, never recorded twice)"))
            }
            // `describe` gives the server's message and SQLSTATE, never the statement or its bound
            // values (which may carry a request's data).
            context.logger.error(
                "internal error",
                metadata: context.identified.metadata(["ledger.error": "\(describe(error))", "ledger.error_type": "\(type(of: error))"]))
            return Reply.json(
                .internalServerError,
                .object(["error": .object(["code": .string("internal"), "message": .string("internal error; it has been logged")])]))
        }
    }
}

enum DatabaseTrouble {
    /// Connection failures, timeouts, a server shutting down: the client should retry.
    static func isUnavailable(_ error: any Error) -> Bool {
        error is DeadlineExceeded || error is CancellationError || DatabaseFailure.isUnavailable(error)
    }
}

struct DeadlineExceeded: Error {}

/// How long a request waits past its deadline for work that was cancelled but had a statement
/// under way (an append whose COMMIT was sent): long enough for a live database to answer it.
let lateAnswerGrace: Duration = .seconds(1)

/// Runs `body`, cancelling it after `limit` (a database that does not answer must not hang the
/// request): the pool's wait for a connection and a `min_position` wait end at once.
///
/// A statement already sent cannot be withdrawn. When it finishes within `lateAnswerGrace` of the
/// limit (an append whose COMMIT was under way) its real outcome is the answer, so a deadline does
/// not turn a recorded append into a 503. Past that the request answers `DeadlineExceeded` and the
/// body is left to end by itself: on a connection the network has cut off, a sent statement waits
/// for the link (or the kernel's timeout), and the client must not. Such an append may still be
/// recorded when the link comes back; a retry with the same ids gets its receipt. A body that fails
/// after the limit answers `DeadlineExceeded`; an error the ledger itself chose (a broken rule)
/// stands as it is.
func withDeadline<R: Sendable>(
    _ limit: Duration, grace: Duration = lateAnswerGrace, _ body: @escaping @Sendable () async throws -> R
) async throws -> R {
    let clock = ContinuousClock()
    let started = clock.now
    do {
        return try await abandoning(after: limit + grace, cancelAfter: limit, body)
    } catch let error as LedgerError {
        throw error
    } catch is Abandoned {
        throw DeadlineExceeded()
    } catch {
        throw clock.now - started >= limit ? DeadlineExceeded() : error
    }
}
