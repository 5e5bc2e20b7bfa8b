import ArgumentParser
import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore
import Logging

@main
struct PlacementCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placementctl",
        abstract: "Administer a Placement Ledger: migrate, import and export, verify, seal, demo data.",
        discussion: """
            With no database URL, the embedded PostgreSQL cluster in --data-dir (default ./.placement-data) \
            is used, created on first use and stopped when no process needs it any more.

            Exit codes: 0 ok, 1 a failure was found (tampering, a rejected import line, nothing to show), \
            2 usage or connection error.
            """,
        subcommands: [
            Migrate.self, Import.self, Export.self, StreamCommand.self, Verify.self, SealCommand.self,
            Digest.self, SealKeys.self, ProofCommand.self, Status.self, Demo.self, Keys.self, Replay.self, Report.self,
        ]
    )

    static func main() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            let level = ProcessInfo.processInfo.environment["PLACEMENT_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
            handler.logLevel = level ?? .warning
            return handler
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as Failure {
            FileHandle.standardError.write(Data("placementctl: \(failure.message)\n".utf8))
            Foundation.exit(failure.code)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("placementctl: \(error.message)\n".utf8))
            Foundation.exit(2)
        } catch let error as ClusterError {
            FileHandle.standardError.write(Data("placementctl: \(error.message)\n".utf8))
            Foundation.exit(2)
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is CleanExit {
                exit(withError: error)
            }
            if code == .validationFailure || error is ValidationError {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            FileHandle.standardError.write(Data("placementctl: \(describe(error))\n".utf8))
            Foundation.exit(2)
        }
    }
}

/// A failure to report with its exit code (1: something was found wrong; 2: usage or connection).
struct Failure: Error {
    var code: Int32
    var message: String
}

/// Where the ledger is: shared by every command.
struct LedgerOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "PostgreSQL URL, e.g. postgres://user:pass@host:5432/db?sslmode=require (default: $PLACEMENT_DATABASE_URL, else the embedded cluster).",
            valueName: "url"))
    var databaseURL: String?

    @Option(
        name: .customLong("data-dir"),
        help: ArgumentHelp("Directory of the embedded PostgreSQL cluster (default: $PLACEMENT_DATA_DIR or ./.placement-data).", valueName: "dir"))
    var dataDirectory: String?

    var location: DatabaseLocation {
        DatabaseLocation.resolve(databaseURL: databaseURL, dataDirectory: dataDirectory, environment: ProcessInfo.processInfo.environment)
    }

    /// Opens the ledger (migrating it unless `migrate` is false) and runs `body` with a store.
    func withStore<R: Sendable>(
        migrate: Bool = true, _ body: @Sendable (LedgerDatabase, EventStore) async throws -> R
    ) async throws -> R {
        let logger = Logger(label: "placementctl")
        // The private embedded cluster is always brought up to date; an external database only by
        // commands that write (read-only commands then ask for `migrate` when it is behind).
        var isEmbedded = false
        if case .embedded = location { isEmbedded = true }
        let database = try await LedgerDatabase.open(location, migrate: migrate || isEmbedded, logger: logger)
        defer { database.close() }
        return try await database.withClient(logger: logger) { client in
            try await body(database, EventStore(client: client, logger: logger, readModels: InlineProjections()))
        }
    }
}

enum Terminal {
    static let isInteractive = isatty(STDERR_FILENO) == 1

    /// Rewrites one status line on stderr (only on a terminal).
    static func progress(_ text: String) {
        guard isInteractive else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    static func endProgress() {
        guard isInteractive else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// Buffered stdout for NDJSON output.
struct OutputBuffer {
    var bytes: [UInt8] = []

    mutating func line(_ json: JSON) {
        json.write(into: &bytes)
        bytes.append(0x0A)
        if bytes.count > 1 << 16 { flush() }
    }

    mutating func flush() {
        guard !bytes.isEmpty else { return }
        FileHandle.standardOutput.write(Data(bytes))
        bytes.removeAll(keepingCapacity: true)
    }
}
