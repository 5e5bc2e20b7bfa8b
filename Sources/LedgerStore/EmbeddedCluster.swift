import Foundation
public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A private PostgreSQL cluster in a data directory: created with `initdb` on first use, started on
/// a unix socket (no TCP), and stopped by the last process that used it. When the caller is root the
/// server runs as the unprivileged `postgres` user, because PostgreSQL refuses to run as root.
///
/// Several processes may use one cluster (the daemon, then `placementctl`): each holds a shared lock
/// on `<data>/.users` while it uses it; the one that can upgrade to an exclusive lock on the way out
/// is the last and stops the server. Locks die with their process, so a crash never blocks the next.
public struct EmbeddedCluster: Sendable {
    public static let defaultDataDirectory = ".placement-data"
    public static let databaseName = "placement"
    public static let ownerUser = "postgres"
    public static let appUser = "placement_app"

    public let dataDirectory: String
    /// Faster, non-durable settings (fsync off): for throwaway test clusters only.
    public let durable: Bool
    /// The server's `max_connections`: 200 serves a few daemons and CLIs; the test suite, whose
    /// parallel tests each have a pool of their own, asks for more.
    public let maxConnections: Int
    let binDirectory: String
    let serverUser: String?

    var pgdata: String { dataDirectory + "/pg" }
    var logFile: String { runDirectory + "/postgresql.log" }
    var runDirectory: String { dataDirectory + "/run" }

    /// The socket's directory; under /tmp when the data directory's path is too long for a socket.
    public var socketDirectory: String {
        if (runDirectory + "/.s.PGSQL.5432").utf8.count < 100 { return runDirectory }
        var hash: UInt64 = 1_469_598_103_934_665_603
        for b in dataDirectory.utf8 { hash = (hash ^ UInt64(b)) &* 1_099_511_628_211 }
        return "/tmp/placement-" + String(hash, radix: 16)
    }

    public var socketPath: String { socketDirectory + "/.s.PGSQL.5432" }

    public init(dataDirectory: String, durable: Bool = true, maxConnections: Int = 200) throws(ClusterError) {
        let absolute = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        self.dataDirectory = absolute
        self.durable = durable
        self.maxConnections = maxConnections
        self.binDirectory = try Self.locateBinaries()
        self.serverUser = getuid() == 0 ? try Self.unprivilegedUser() : nil
    }

    // MARK: Finding PostgreSQL

    /// The directory of the PostgreSQL programs this machine has (15 or newer).
    public static func binaryDirectory() throws(ClusterError) -> String { try locateBinaries() }

    static func locateBinaries() throws(ClusterError) -> String {
        let fm = FileManager.default
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["PLACEMENT_PG_BIN"] { candidates.append(explicit) }
        for root in ["/usr/lib/postgresql", "/usr/local/lib/postgresql"] {
            let versions = ((try? fm.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).filter { $0 >= 15 }
            candidates += versions.sorted(by: >).map { "\(root)/\($0)/bin" }
        }
        candidates += ["/usr/local/pgsql/bin", "/usr/pgsql-17/bin", "/usr/pgsql-16/bin", "/usr/pgsql-15/bin"]
        candidates += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for dir in candidates where fm.isExecutableFile(atPath: dir + "/initdb") && fm.isExecutableFile(atPath: dir + "/pg_ctl") {
            return dir
        }
        throw ClusterError(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them with `apt-get install postgresql-15` "
                + "(Debian/Ubuntu; any version 15 or newer works), or set PLACEMENT_PG_BIN to their directory, "
                + "or use an external server with PLACEMENT_DATABASE_URL / --database-url.")
    }

    static func unprivilegedUser() throws(ClusterError) -> String {
        if getpwnam("postgres") != nil { return "postgres" }
        throw ClusterError(
            "running as root, but there is no `postgres` system user to run the embedded PostgreSQL as "
                + "(PostgreSQL refuses to run as root). Install the postgresql package, which creates it, or run as a normal user.")
    }

    // MARK: Lifecycle

    /// Creates the cluster if needed, starts it unless it is running, and registers this process as
    /// a user. Call `release()` on the handle when done.
    public func start(logger: Logger) throws(ClusterError) -> Handle {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw ClusterError("cannot create the data directory \(dataDirectory): \(error.localizedDescription)")
        }
        // Other users may not list or read it (keys, logs and lock files live here); when the server
        // runs as another user it may enter it, no more.
        chmod(dataDirectory, serverUser == nil ? 0o700 : 0o711)
        let usersLock = try FileLock(path: dataDirectory + "/.users")
        usersLock.lock(shared: true)
        let startLock = try FileLock(path: dataDirectory + "/.start")
        startLock.lock(shared: false)
        defer { startLock.unlock() }
        do {
            if !fm.fileExists(atPath: pgdata + "/PG_VERSION") {
                try initialise(logger: logger)
            }
            if !isRunning() {
                try launch(logger: logger)
            }
        } catch {
            usersLock.unlock()
            throw error
        }
        return Handle(cluster: self, usersLock: usersLock, logger: logger)
    }

    /// One process's use of the cluster.
    public final class Handle: Sendable {
        public let cluster: EmbeddedCluster
        let usersLock: FileLock
        let logger: Logger

        init(cluster: EmbeddedCluster, usersLock: FileLock, logger: Logger) {
            self.cluster = cluster
            self.usersLock = usersLock
            self.logger = logger
        }

        /// Stops the server if no other process uses it.
        public func release() {
            if usersLock.tryUpgradeToExclusive() {
                cluster.stop(logger: logger)
            }
            usersLock.unlock()
        }
    }

    func isRunning() -> Bool {
        (try? run(binDirectory + "/pg_ctl", ["status", "-D", pgdata], asServerUser: true))?.status == 0
    }

    /// Creates a directory only the server's user can use (0700), or checks one that exists: it
    /// must be a real directory (not a symbolic link) owned by that user or by us. The socket
    /// directory may be a predictable name under /tmp, which another local user could create
    /// first to receive the server's socket.
    private func prepareDirectory(_ path: String) throws(ClusterError) {
        let serverAccount = serverUser.flatMap { getpwnam($0) }.map { ($0.pointee.pw_uid, $0.pointee.pw_gid) }
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw ClusterError("\(path) exists and is not a directory (a symbolic link?): refusing to use it; remove it")
            }
            guard info.st_uid == getuid() || info.st_uid == serverAccount?.0 else {
                throw ClusterError(
                    "\(path) belongs to another user (uid \(info.st_uid)): refusing to put the database's socket or files there; remove it, or choose another --data-dir")
            }
        } else {
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
                throw ClusterError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
        if let (uid, gid) = serverAccount {
            guard chown(path, uid, gid) == 0 else {
                throw ClusterError("cannot hand \(path) to the \(serverUser ?? "") user: \(String(cString: strerror(errno)))")
            }
        }
        guard chmod(path, 0o700) == 0 else { throw ClusterError("cannot make \(path) private: \(String(cString: strerror(errno)))") }
    }

    private func checkReachable() throws(ClusterError) {
        guard let user = serverUser else { return }
        // Every directory above the data directory must be searchable by the server's user.
        var path = URL(fileURLWithPath: dataDirectory)
        while path.path != "/" {
            var info = stat()
            if stat(path.path, &info) == 0, info.st_mode & 0o001 == 0 {
                throw ClusterError(
                    "the embedded PostgreSQL runs as the `\(user)` user, which cannot enter \(path.path). "
                        + "Choose a data directory it can reach (--data-dir /var/lib/placement or /tmp/placement), "
                        + "or allow it in: chmod o+x \(path.path)")
            }
            path.deleteLastPathComponent()
        }
    }

    private func initialise(logger: Logger) throws(ClusterError) {
        try checkReachable()
        try prepareDirectory(pgdata)
        try prepareDirectory(runDirectory)
        logger.info("creating the embedded PostgreSQL cluster", metadata: ["ledger.data_dir": "\(pgdata)"])
        let result = try run(
            binDirectory + "/initdb",
            ["-D", pgdata, "-U", Self.ownerUser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"],
            asServerUser: true)
        guard result.status == 0 else {
            throw ClusterError("initdb failed (exit \(result.status)): \(result.output.suffix(2000))")
        }
    }

    private func launch(logger: Logger) throws(ClusterError) {
        try prepareDirectory(runDirectory)
        if socketDirectory != runDirectory { try prepareDirectory(socketDirectory) }
        var options = "-c listen_addresses='' -k '\(socketDirectory)' -c max_connections=\(maxConnections)"
            + " -c unix_socket_permissions=0700 -c idle_in_transaction_session_timeout=60s"
        if !durable { options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" }
        logger.info("starting the embedded PostgreSQL", metadata: ["ledger.socket": "\(socketDirectory)"])
        let result = try run(
            binDirectory + "/pg_ctl", ["-D", pgdata, "-l", logFile, "-w", "-t", "60", "-o", options, "start"],
            asServerUser: true)
        guard result.status == 0 else {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)).map { String($0.suffix(1500)) } ?? ""
            throw ClusterError("PostgreSQL did not start (pg_ctl exit \(result.status)): \(result.output) \(log)")
        }
    }

    public func stop(logger: Logger) {
        logger.info("stopping the embedded PostgreSQL")
        _ = try? run(binDirectory + "/pg_ctl", ["-D", pgdata, "-m", "fast", "-w", "-t", "60", "stop"], asServerUser: true)
    }

    // MARK: Processes

    public struct Output: Sendable {
        public var status: Int32
        public var output: String
    }

    /// The path of one of the cluster's PostgreSQL programs (psql, pgbench, pg_basebackup, …).
    public func tool(_ name: String) -> String { binDirectory + "/" + name }

    /// Runs a program to completion, as the server's user when this process is root.
    public func run(_ executable: String, _ arguments: [String], asServerUser: Bool = false) throws(ClusterError) -> Output {
        var argv = [executable] + arguments
        if asServerUser, let user = serverUser {
            let runuser = FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") ? "/usr/sbin/runuser" : "/sbin/runuser"
            argv = [runuser, "-u", user, "--"] + argv
        }
        return try spawnAndWait(argv)
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now (for a standby or a daemon started
/// next to the embedded cluster: the benchmark, the tests).
public func freeLoopbackPort() throws(ClusterError) -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard fd >= 0, bound else { throw ClusterError("no free TCP port on 127.0.0.1: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Runs a program to completion with posix_spawn and waitpid, capturing its output in a file.
/// (Foundation's Process can hang waiting for a child when called from a concurrency thread.)
public func spawnAndWait(_ argv: [String]) throws(ClusterError) -> EmbeddedCluster.Output {
    let outputPath = "/tmp/placement-spawn-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
    let fd = open(outputPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw ClusterError("cannot create \(outputPath): \(String(cString: strerror(errno)))") }
    defer {
        close(fd)
        unlink(outputPath)
    }
    let pid = try spawnProcess(argv, outputFD: fd)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw ClusterError("waiting for \(argv[0]) failed: \(String(cString: strerror(errno)))") }
    }
    let exitCode: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    return EmbeddedCluster.Output(status: exitCode, output: output)
}

/// Starts a program with stdin on /dev/null and stdout and stderr on `outputFD`. The child gets
/// an empty signal mask and default signal actions: ignored or blocked signals are inherited
/// through exec, and pgbench, for one, ends its `-T` runs by SIGALRM.
public func spawnProcess(_ argv: [String], outputFD: Int32) throws(ClusterError) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
    posix_spawn_file_actions_adddup2(&actions, outputFD, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var cArgs = argv.map { strdup($0) } + [nil]
    defer { for arg in cArgs { free(arg) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, &attributes, &cArgs, environ)
    guard rc == 0 else { throw ClusterError("cannot run \(argv[0]): \(String(cString: strerror(rc)))") }
    return pid
}

public struct ClusterError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An advisory `flock` on a file, released automatically when the process ends.
final class FileLock: Sendable {
    let fd: Int32

    init(path: String) throws(ClusterError) {
        // O_NOFOLLOW: a symbolic link planted in its place is refused, never followed.
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw ClusterError("cannot open \(path): \(String(cString: strerror(errno)))") }
        fchmod(fd, 0o600)  // one created by an earlier release was world-readable
    }

    func lock(shared: Bool) {
        while flock(fd, shared ? LOCK_SH : LOCK_EX) != 0 && errno == EINTR {}
    }

    func tryUpgradeToExclusive() -> Bool { flock(fd, LOCK_EX | LOCK_NB) == 0 }

    func unlock() { flock(fd, LOCK_UN) }

    deinit { close(fd) }
}

/// Runs blocking work (here: waiting for a child process such as `pg_ctl` or `pg_basebackup`) on a
/// thread of its own. Swift concurrency has one cooperative thread per core (two on the reference
/// machine); a `waitpid` of several seconds on one of them holds up every task of the process,
/// so request deadlines and timers stall with it.
public func onOwnThread<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
