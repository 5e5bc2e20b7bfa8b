import Logging
import Synchronization
public import Hummingbird
public import LedgerStore
public import LedgerProjections

/// Who is calling: the key's id, role and (for company and university keys) organisation.
public struct Principal: Sendable, Hashable {
    public var keyID: String
    public var role: Role
    public var orgID: String?
}

/// The request context of every route: Hummingbird's core storage plus the authenticated caller.
public struct LedgerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    /// Shared by every copy of this request's context, so the request log (outside the
    /// authentication middleware) can name the key that made the request.
    let identified = IdentifiedKey()

    /// The client's IP address (for the failed-authentication limit); nil in router tests.
    public let remoteAddress: String?

    public init(source: Source) {
        coreContext = .init(source: source)
        principal = nil
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The append route reads at most 1 MiB; the limit is enforced (with a 413) by the route itself.
    public var maxUploadSize: Int { 1 << 20 }
}

/// The key id of a request, once authenticated.
final class IdentifiedKey: Sendable {
    private let value = Mutex<String?>(nil)
    var keyID: String? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }

    /// `metadata` with the key's id (`ledger.key`) once the request is authenticated.
    func metadata(_ metadata: Logger.Metadata) -> Logger.Metadata {
        guard let keyID else { return metadata }
        var all = metadata
        all["ledger.key"] = .string(keyID)
        return all
    }
}
