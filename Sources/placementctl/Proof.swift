import ArgumentParser
import Foundation
import LedgerCore

struct ProofCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proof",
        abstract: "Check placement proofs (GET /v1/placements/{posting_id}/{student_id}/proof) offline.",
        subcommands: [VerifyProof.self])

    struct VerifyProof: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check a placement proof with no database: exit 0, or 1 naming the first thing that failed.",
            discussion: """
                Checks, in this order (docs/proofs.md): the seal's Ed25519 signature by a key in KEYS (the document \
                GET /v1/seals/keys answers, in service when the seal was made); the posting's stream from version 1, \
                every hash recomputed from the disclosed events and the withheld events' commitments, none of the \
                student's events withheld; the RFC 9162 inclusion proof of its last event in the sealed tree; and \
                that the placement's figures follow from the disclosed events by the ledger's money rules.
                """)

        @Argument(help: ArgumentHelp("The proof, as the daemon served it (- for standard input).", valueName: "file"))
        var file: String

        @Option(name: .customLong("keys"), help: ArgumentHelp("The published seal keys ({\"keys\":[…]} from GET /v1/seals/keys).", valueName: "file"))
        var keys: String

        func run() async throws {
            let proof: PlacementProof
            let published: [PublishedSealKey]
            do {
                proof = try PlacementProof(json: try Self.readJSON(file, what: "the proof"))
                published = try PublishedSealKey.list(json: try Self.readJSON(keys, what: "the keys file"))
            } catch let failure as ProofFailure {
                throw Failure(code: 1, message: "the proof does not hold: \(failure.message)")
            }
            do {
                let row = try proof.verify(keys: published)
                print(
                    "proof holds: placement of \(row.studentID) on \(row.postingID) as of seal #\(proof.seal.sequence) "
                        + "(\(proof.seal.treeSize) events, signed by \(proof.seal.keyID) at \(proof.seal.sealedAt.rfc3339)): "
                        + "\(proof.entries.count) events in the stream, earned \(row.earnedMinor), paid \(row.paidMinor), "
                        + "balance \(row.balanceMinor) \(row.currency) (minor units)")
            } catch {
                throw Failure(code: 1, message: "the proof does not hold: \(error.message)")
            }
        }

        static func readJSON(_ path: String, what: String) throws -> JSON {
            let bytes: [UInt8]
            if path == "-" {
                bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
            } else {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw Failure(code: 2, message: "cannot read \(what) \(path)")
                }
                bytes = Array(data)
            }
            do {
                return try JSONParser.parse(bytes)
            } catch {
                throw ProofFailure("\(what) is not JSON the ledger reads: \(error)")
            }
        }
    }
}
