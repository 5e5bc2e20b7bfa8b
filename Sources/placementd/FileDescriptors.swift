#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// The process's file-descriptor limit against the connection cap: a cap above the limit would
/// let idle clients exhaust descriptors (accept fails, and so do the database pool and files).
enum FileDescriptors {
    #if os(Linux)
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resource = RLIMIT_NOFILE
    #endif

    /// Descriptors kept for everything but client connections: the database pools, the embedded
    /// cluster's pipes, log and key files.
    static let reserve = 256

    /// Raises the soft limit towards `connections + reserve` (up to the hard limit) and returns the
    /// connection cap that fits.
    static func fit(connections: Int, logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return connections }
        let wanted = rlim_t(connections + reserve)
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = min(wanted, limit.rlim_max)
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        let fits = Int(limit.rlim_cur) - reserve
        guard fits < connections else { return connections }
        let cap = max(16, fits)
        logger.warning(
            "the file-descriptor limit allows \(cap) client connections, not \(connections): serving at most \(cap) (raise the limit with ulimit -n or LimitNOFILE)",
            metadata: ["ledger.fd_limit": "\(limit.rlim_cur)"])
        return cap
    }
}
