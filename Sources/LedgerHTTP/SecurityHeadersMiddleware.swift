public import Hummingbird

/// Headers every response carries, errors included. `nosniff`: a browser must take each body as
/// the type it is declared as (JSON, CSV), never guess HTML or script from text a tenant wrote into
/// a title or note.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }
}
