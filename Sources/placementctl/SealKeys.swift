import ArgumentParser
import Foundation
import LedgerCore
import LedgerStore

/// Where the seal keys' private halves are, for the commands that need them.
struct SealKeyOptions: ParsableArguments {
    @Option(
        name: .customLong("seal-keys"),
        help: ArgumentHelp(
            "Directory of the seal signing keys' private halves, the daemon's (default: $PLACEMENT_SEAL_KEYS, else seal-keys in the embedded cluster's data directory).",
            valueName: "dir"))
    var directory: String?

    func keyring(_ ledger: LedgerOptions) throws -> SealKeyring {
        guard let keyring = ledger.location.sealKeyring(explicit: directory, environment: ProcessInfo.processInfo.environment) else {
            throw Failure(code: 2, message: "with an external database, say where the daemon's seal keys are: --seal-keys DIR (or PLACEMENT_SEAL_KEYS)")
        }
        return keyring
    }
}

struct SealKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal-keys",
        abstract: "Create, list and retire the Ed25519 keys that sign seals.",
        discussion: """
            A key's private half is a file (mode 0600) in the seal key directory, which only the daemon's user \
            may read; its public half is published in the database and at GET /v1/seals/keys. The newest \
            unretired key whose file the daemon has signs each new seal. Retiring a key stops it signing; it \
            stays listed, so the seals it signed still verify.
            """,
        subcommands: [Create.self, List.self, Retire.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a key: write its private half and publish its public half; print its id.")

        @OptionGroup var ledger: LedgerOptions
        @OptionGroup var keys: SealKeyOptions

        func run() async throws {
            let keyring = try keys.keyring(ledger)
            let key = try await ledger.withStore { _, store in
                do {
                    return try await keyring.create(owner: store.client, logger: store.logger)
                } catch let error as SealKeyError {
                    throw Failure(code: 2, message: error.message)
                }
            }
            print(key.id)
            Terminal.note("seal key \(key.id) written to \(keyring.directory); it signs the next seals (the newest unretired key does)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the published keys and whether their private halves are here.")

        @OptionGroup var ledger: LedgerOptions
        @OptionGroup var keys: SealKeyOptions

        func run() async throws {
            let keyring = try? keys.keyring(ledger)
            let published = try await ledger.withStore { _, store in
                try await store.client.withConnection { try await Integrity(client: store.client, logger: store.logger).sealKeys(on: $0) }
            }
            print("key id               created                      retired                      private half here")
            for key in published {
                let columns = [
                    key.id.padding(toLength: 20, withPad: " ", startingAt: 0), key.createdAt.rfc3339.padding(toLength: 28, withPad: " ", startingAt: 0),
                    (key.retiredAt?.rfc3339 ?? "-").padding(toLength: 28, withPad: " ", startingAt: 0), keyring?.has(key.id) == true ? "yes" : "no",
                ]
                print(columns.joined(separator: " "))
            }
            Terminal.note("\(published.count) key(s)")
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retire a key: it signs no more seals and stays listed.")

        @OptionGroup var ledger: LedgerOptions

        @Argument(help: "The key's id (as `seal-keys list` shows it).")
        var id: String

        func run() async throws {
            let id = id
            let retired = try await ledger.withStore { _, store in
                try await SealKeyring.retire(id, owner: store.client, logger: store.logger)
            }
            guard retired else { throw Failure(code: 1, message: "no unretired seal key \(id); `placementctl seal-keys list` shows them") }
            Terminal.note("seal key \(id) retired; make a new one with `placementctl seal-keys create` if none is left")
        }
    }
}
