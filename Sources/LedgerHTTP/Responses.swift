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

/// What finished first in `withDeadline`.
private enum DeadlineOutcome<R: Sendable>: Sendable {
    case body(Result<R, any Error>)
    case deadline
}

/// Runs `body`, cancelling it after `limit` (a database that does not answer must not hang the
/// request): the pool's wait for a connection and a `min_position` wait end at once.
///
/// Structured: past the limit the body is cancelled and still awaited, because a statement already
/// sent cannot be withdrawn; when it finishes anyway (an append whose COMMIT was under way) its real
/// outcome is the answer, so a deadline does not turn a recorded append into a 503. A body that
/// fails after the limit answers `DeadlineExceeded`; an error the ledger itself chose (a broken
/// rule) stands as it is. (A statement PostgresNIO lost on a connection that closed under it would
/// never finish: appends are guarded against that where their group waits, see `abandoning`.)
func withDeadline<R: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> R) async throws -> R {
    try await withThrowingTaskGroup(of: DeadlineOutcome<R>.self) { group in
        group.addTask {
            do { return .body(.success(try await body())) } catch { return .body(.failure(error)) }
        }
        group.addTask {
            do { try await Task.sleep(for: limit) } catch { return .deadline }
            return .deadline
        }
        var late = false
        while let outcome = try await group.next() {
            switch outcome {
            case .deadline:
                late = true
                group.cancelAll()
            case .body(let result):
                group.cancelAll()
                switch result {
                case .success(let value): return value
                case .failure(let error as LedgerError): throw error
                case .failure(let error): throw late ? DeadlineExceeded() : error
                }
            }
        }
        throw DeadlineExceeded()
    }
}
