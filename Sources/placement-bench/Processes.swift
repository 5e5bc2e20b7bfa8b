import Foundation
import LedgerProjections
import LedgerStore

/// A program started in the background (the daemon), with its output in a log file.
final class BackgroundProcess: Sendable {
    let pid: pid_t
    let logPath: String

    init(_ argv: [String], logPath: String) throws {
        let fd = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LoadError("cannot create \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        do { pid = try spawnProcess(argv, outputFD: fd) } catch { throw LoadError(error.description) }
        self.logPath = logPath
    }

    /// Peak and current resident memory in bytes (VmHWM, VmRSS of /proc/PID/status).
    var memory: (peak: Int64, current: Int64) {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Int64 {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return (Int64(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0) * 1024
        }
        return (field("VmHWM"), field("VmRSS"))
    }

    var isRunning: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// SIGTERM, then waits (SIGKILL after 30 s). Returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<3000 {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { return (status >> 8) & 0xFF }
            if rc < 0 { return -1 }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        return -1
    }

    var logTail: String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }
}

/// Runs a program to completion and fails with its output when it fails.
@discardableResult
func runChecked(_ argv: [String]) throws -> String {
    let result = try spawnAndWait(argv)
    guard result.status == 0 else {
        throw LoadError("\(argv.joined(separator: " ")) exited with \(result.status):\n\(result.output.suffix(2000))")
    }
    return result.output
}

/// The bench's `print`: writes each line straight to standard output, so progress appears as it
/// happens also when the output goes to a pipe or a file (stdio would buffer it until exit).
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    let text = items.map { "\($0)" }.joined(separator: separator) + terminator
    FileHandle.standardOutput.write(Data(text.utf8))
}
