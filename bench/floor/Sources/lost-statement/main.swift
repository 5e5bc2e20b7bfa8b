// A reproduction of PostgresNIO 1.33.2 dropping a statement written to a connection whose channel
// has just closed (docs/postgresnio-lost-statement.md): the write carries no promise, the pipeline's
// handlers are already removed, and the query's own promise is never completed, so its caller waits
// for ever, cancelled or not.
//
//   lost-statement [--race N | --race-on-loop N] [SOCKET_DIR [USER [DATABASE]]]
//
// SOCKET_DIR is the directory of PostgreSQL's unix socket (or the socket's own path); the defaults
// come from PGHOST, PGUSER, PGDATABASE and PGPORT (socket `SOCKET_DIR/.s.PGSQL.PGPORT`, port 5432).
//
// Default mode: connect A and B, terminate A's backend from B, wait for A.closeFuture, then send
// `SELECT 1` on A and see whether it ends within 5 s (and within 2 s of being cancelled).
// `--race N`: N times, terminate a fresh A's backend from B and at once send `SELECT 1` on A unless
// `A.isClosed` (checked in the sending task right before the query, as the ledger's
// `PostgresConnection.run` does), counting the sends that hung (> 3 s), failed or returned.
// `--race-on-loop N`: the same rounds, but the sending task runs the `isClosed` check and the call to
// `query` on A's own event loop, in one executor job (a task executor preference for that loop), so
// that NIO's close sequence cannot run between the check and the channel write; it also counts how
// many sends really were on the loop (`inEventLoop` right before `query`) and, since being on the
// loop is not enough, whether PostgresChannelHandler took the query in the check's executor job (seen
// through the handler's "Run action" trace message on A's logger).
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

// MARK: Arguments

var arguments = Array(CommandLine.arguments.dropFirst())
var raceCount: Int?
var raceOnLoop = false
if let index = arguments.firstIndex(where: { $0 == "--race" || $0 == "--race-on-loop" }) {
    guard index + 1 < arguments.count, let n = Int(arguments[index + 1]), n > 0 else {
        FileHandle.standardError.write("usage: lost-statement [--race N | --race-on-loop N] [SOCKET_DIR [USER [DATABASE]]]\n".data(using: .utf8)!)
        exit(2)
    }
    raceCount = n
    raceOnLoop = arguments[index] == "--race-on-loop"
    arguments.removeSubrange(index...index + 1)
}
let environment = ProcessInfo.processInfo.environment
let socketDirectory = arguments.count > 0 ? arguments[0] : (environment["PGHOST"] ?? "/var/run/postgresql")
let user = arguments.count > 1 ? arguments[1] : (environment["PGUSER"] ?? "postgres")
let database = arguments.count > 2 ? arguments[2] : (environment["PGDATABASE"] ?? user)
let socketPath = socketDirectory.contains(".s.PGSQL.")
    ? socketDirectory
    : "\(socketDirectory)/.s.PGSQL.\(environment["PGPORT"] ?? "5432")"

var logger = Logger(label: "lost-statement")
logger.logLevel = .error
let configuration = PostgresConnection.Configuration(
    unixSocketPath: socketPath, username: user, password: nil, database: database)

// MARK: Helpers

/// How a statement ended, set once by the task that sent it.
enum Outcome: Sendable {
    case returned
    case failed(String)
    /// `isClosed` was true just before the send, so nothing was sent (race mode).
    case notSent
}

final class OutcomeBox: Sendable {
    private let value = Mutex<Outcome?>(nil)
    func set(_ outcome: Outcome) { value.withLock { if $0 == nil { $0 = outcome } } }
    var outcome: Outcome? { value.withLock { $0 } }
}

/// Sends `SELECT 1` on `connection` in an unstructured task and reports through the box. With
/// `checkingClosed`, the task first checks `isClosed` and sends nothing if it is true, the same check
/// in the same place as the ledger's `PostgresConnection.run` (Sources/LedgerStore/ClosedConnection.swift).
func send(on connection: PostgresConnection, checkingClosed: Bool = false) -> (Task<Void, Never>, OutcomeBox) {
    let box = OutcomeBox()
    let task = Task {
        if checkingClosed && connection.isClosed {
            box.set(.notSent)
            return
        }
        do {
            try await connection.query("SELECT 1", logger: logger)
            box.set(.returned)
        } catch {
            box.set(.failed(String(reflecting: error)))
        }
    }
    return (task, box)
}

/// A task executor that runs each job synchronously on one NIO event loop thread. It numbers the jobs
/// it runs, so that the on-loop race mode can tell whether two points of a task ran in the same job.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop
    // Only touched on `loop` (hence @unchecked Sendable).
    private var jobsRun = 0
    /// The number of the job being run, 0 outside the executor's jobs. Read it on `loop` only.
    private(set) var runningJob = 0

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute {
            self.jobsRun += 1
            self.runningJob = self.jobsRun
            job.runSynchronously(on: self.asUnownedTaskExecutor())
            self.runningJob = 0
        }
    }
}

/// What one on-loop send saw: whether the `isClosed` check and the call to `query` ran on the loop,
/// and whether PostgresChannelHandler's first action after the check ran in the check's executor job.
/// If it did, that action was the handler taking the written query (nothing else runs in that job);
/// if it did not, the job ended between the check and the write (whatever the action was: the write
/// arriving later, or the close, after which a write may never reach the handler).
final class LoopProbe: Sendable {
    private struct State {
        var checkedOnLoop: Bool?
        var sentOnLoop: Bool?
        var executor: EventLoopTaskExecutor?
        var armedJob: Int?
        var writeInSameJob: Bool?
    }
    private let state = Mutex(State())

    func checked(onLoop: Bool) { state.withLock { $0.checkedOnLoop = onLoop } }
    /// Called right before `query`, on the loop: remembers the job the check and the call run in.
    func sending(onLoop: Bool, executor: EventLoopTaskExecutor) {
        let job = executor.runningJob
        state.withLock { $0.sentOnLoop = onLoop; $0.executor = executor; $0.armedJob = job }
    }
    /// Called (on the loop) for PostgresChannelHandler's "Run action" trace message; records whether
    /// the first one after `sending` runs in the job that made the check.
    func handlerRanAction() {
        state.withLock {
            guard let job = $0.armedJob, $0.writeInSameJob == nil, let executor = $0.executor else { return }
            $0.writeInSameJob = job != 0 && executor.runningJob == job
        }
    }
    var checkedOnLoop: Bool? { state.withLock { $0.checkedOnLoop } }
    var sentOnLoop: Bool? { state.withLock { $0.sentOnLoop } }
    var writeInSameJob: Bool? { state.withLock { $0.writeInSameJob } }
}

/// The log handler of A's connection in the on-loop race mode: passes errors on to stderr, and tells
/// the round's probe about PostgresChannelHandler's "Run action" trace message, which the handler logs
/// synchronously when a written query reaches it (`write` → `state.enqueue` → `run`).
struct ProbeLogHandler: LogHandler {
    let probe: LoopProbe
    var stderr = StreamLogHandler.standardError(label: "lost-statement")
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        if event.level == .trace, event.message.description == "Run action" { probe.handlerRanAction() }
        if event.level >= .error { stderr.log(event: event) }
    }
}

struct Refused: Error {}

/// As `send(on:checkingClosed: true)`, but the `isClosed` check and the call to `query` run on the
/// connection's event loop, meant to be in the same executor job: `query` writes to the channel before
/// its first suspension, and a write made on the loop goes straight into the pipeline. `log` is passed
/// in rather than read from the top-level `logger`, which is main-actor-isolated: reading it between
/// the check and the call would hop to the main actor and back, that is, end the job.
func sendOnLoop(on connection: PostgresConnection, logger log: Logger, probe: LoopProbe) -> (Task<Void, Never>, OutcomeBox) {
    let box = OutcomeBox()
    let task = Task {
        do {
            let executor = EventLoopTaskExecutor(connection.eventLoop)
            try await withTaskExecutorPreference(executor) {
                probe.checked(onLoop: connection.eventLoop.inEventLoop)
                guard !connection.isClosed else { throw Refused() }
                probe.sending(onLoop: connection.eventLoop.inEventLoop, executor: executor)
                try await connection.query("SELECT 1", logger: log)
            }
            box.set(.returned)
        } catch is Refused {
            box.set(.notSent)
        } catch {
            box.set(.failed(String(reflecting: error)))
        }
    }
    return (task, box)
}

/// Polls `box` every 100 ms for up to `seconds`; the outcome, or nil if there was none by then.
func wait(for box: OutcomeBox, seconds: Double) async -> Outcome? {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if let outcome = box.outcome { return outcome }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return box.outcome
}

func backendPID(of connection: PostgresConnection) async throws -> Int32 {
    let rows = try await connection.query("SELECT pg_backend_pid()", logger: logger)
    for try await pid in rows.decode(Int32.self) { return pid }
    fatalError("pg_backend_pid() returned no row")
}

func terminate(_ pid: Int32, from connection: PostgresConnection) async throws {
    let rows = try await connection.query("SELECT pg_terminate_backend(\(pid))", logger: logger)
    for try await terminated in rows.decode(Bool.self) where !terminated {
        print("pg_terminate_backend(\(pid)) returned false")
    }
}

func describe(_ outcome: Outcome) -> String {
    switch outcome {
    case .returned: return "returned"
    case .failed(let error): return "failed with \(error)"
    case .notSent: return "was not sent"
    }
}

// MARK: Main

print("PostgreSQL at \(socketPath), user \(user), database \(database)")
let b = try await PostgresConnection.connect(configuration: configuration, id: 2, logger: logger)

if let n = raceCount {
    var hung = 0, failed = 0, returned = 0, skipped = 0
    var failures: [String: Int] = [:]
    var checksOnLoop = 0, sendsOnLoop = 0, sendsOffLoop = 0, sameJob = 0, otherJob = 0, notSeen = 0
    for i in 1...n {
        let probe = LoopProbe()
        var aLogger = logger
        if raceOnLoop { aLogger = Logger(label: "lost-statement") { _ in ProbeLogHandler(probe: probe) } }
        let a = try await PostgresConnection.connect(configuration: configuration, id: 100 + i, logger: aLogger)
        let pid = try await backendPID(of: a)
        try await terminate(pid, from: b)
        let task: Task<Void, Never>, box: OutcomeBox
        if raceOnLoop {
            (task, box) = sendOnLoop(on: a, logger: logger, probe: probe)
        } else {
            (task, box) = send(on: a, checkingClosed: true)
        }
        switch await wait(for: box, seconds: 3) {
        case nil:
            hung += 1
            task.cancel()
        case .notSent?:
            skipped += 1
        case .returned?:
            returned += 1
        case .failed(let error)?:
            failed += 1
            failures[error, default: 0] += 1
        }
        if raceOnLoop {
            if probe.checkedOnLoop == true { checksOnLoop += 1 }
            switch probe.sentOnLoop {
            case true?: sendsOnLoop += 1
            case false?: sendsOffLoop += 1
            case nil: break
            }
            if probe.sentOnLoop != nil {
                switch probe.writeInSameJob {
                case true?: sameJob += 1
                case false?: otherJob += 1
                case nil: notSeen += 1
                }
            }
        }
        // Let A's close finish before the next round (the hung ones stay hung).
        _ = try? await a.closeFuture.get()
    }
    print("\(raceOnLoop ? "race-on-loop" : "race") mode, \(n) rounds: isClosed was already true (not sent): \(skipped); sent: \(n - skipped), of which hung (> 3 s): \(hung), failed: \(failed), returned: \(returned)")
    if raceOnLoop {
        print("  on A's event loop: isClosed checks \(checksOnLoop) of \(n); sends \(sendsOnLoop) of \(sendsOnLoop + sendsOffLoop) (off the loop: \(sendsOffLoop))")
        print("  PostgresChannelHandler's first action after the check: in the check's executor job (so the written query): \(sameJob); in a later job or outside the executor: \(otherJob); none: \(notSeen)")
    }
    for (error, count) in failures.sorted(by: { $0.value > $1.value }) {
        print("  failed \(count)x: \(error)")
    }
} else {
    let a = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
    let pid = try await backendPID(of: a)
    print("connection A: backend pid \(pid)")
    try await terminate(pid, from: b)
    print("terminated A's backend from B")
    try await a.closeFuture.get()
    print("A.closeFuture completed; A.isClosed = \(a.isClosed)")
    print("sending SELECT 1 on A")
    let (task, box) = send(on: a)
    if let outcome = await wait(for: box, seconds: 5) {
        print("NOT REPRODUCED: the statement \(describe(outcome))")
    } else {
        print("no outcome after 5 s; cancelling the task")
        task.cancel()
        if let outcome = await wait(for: box, seconds: 2) {
            print("NOT REPRODUCED: the statement \(describe(outcome)) (after it was cancelled, more than 5 s after it was sent)")
        } else {
            print("REPRODUCED: the statement neither returned nor failed within 5 s, and cancelling did not end it")
        }
    }
}

_ = try? await b.close().get()
exit(0)
