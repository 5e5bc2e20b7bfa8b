import ArgumentParser
import Foundation
import LedgerCore
import LedgerProjections
import LedgerStore

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API keys.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key and print its secret (once) alone on the first line of stdout.",
            discussion: """
                Only a hash of the secret is stored: keep the printed secret, it cannot be shown again. \
                Details of the key go to stderr. Roles: platform (append anything, read everything), \
                company (bound to --org, its own postings), university (bound to --org, read-only), admin.
                """)

        @OptionGroup var ledger: LedgerOptions

        @Option(help: ArgumentHelp("platform, company, university or admin.", valueName: "role"))
        var role: String

        @Option(help: ArgumentHelp("The company_id or university_id a company or university key is bound to.", valueName: "id"))
        var org: String?

        @Option(help: ArgumentHelp("A note for `keys list` (who holds the key).", valueName: "text"))
        var label: String?

        func validate() throws {
            guard let role = Role(rawValue: role) else {
                throw ValidationError("--role must be one of platform, company, university, admin")
            }
            if role.needsOrganisation, org == nil { throw ValidationError("a \(role.rawValue) key needs --org ID") }
            if !role.needsOrganisation, org != nil { throw ValidationError("a \(role.rawValue) key takes no --org") }
            if let org, !Identifier.isValid(org) { throw ValidationError("--org \(org) is not a valid identifier") }
        }

        func run() async throws {
            let (role, org, label) = (Role(rawValue: role)!, org, label)
            let (secret, key) = try await ledger.withStore { _, store in
                try await KeyStore(client: store.client, logger: store.logger).create(role: role, orgID: org, label: label)
            }
            print(secret)
            Terminal.note("created key \(key.id): role \(key.role.rawValue)" + (key.orgID.map { ", org \($0)" } ?? "") + " — the secret above is shown only once")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")

        @OptionGroup var ledger: LedgerOptions

        func run() async throws {
            let keys = try await ledger.withStore { _, store in try await KeyStore(client: store.client, logger: store.logger).list() }
            print("id            role        org                  created                  revoked")
            for key in keys {
                let columns = [
                    key.id.padding(toLength: 13, withPad: " ", startingAt: 0),
                    key.role.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0),
                    (key.orgID ?? "-").padding(toLength: 20, withPad: " ", startingAt: 0),
                    key.createdAt.rfc3339.padding(toLength: 24, withPad: " ", startingAt: 0),
                    key.revokedAt?.rfc3339 ?? "-",
                ]
                print(columns.joined(separator: " ") + (key.label.map { "  \($0)" } ?? ""))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key by its id (a running daemon refuses it within a second).")

        @OptionGroup var ledger: LedgerOptions

        @Argument(help: ArgumentHelp("The key's id, as shown by `keys list`.", valueName: "id"))
        var id: String

        func run() async throws {
            let id = id
            let found = try await ledger.withStore { _, store in try await KeyStore(client: store.client, logger: store.logger).revoke(id: id) }
            guard found else { throw Failure(code: 1, message: "no key with id \(id): see `placementctl keys list`") }
            Terminal.note("revoked key \(id)")
        }
    }
}
