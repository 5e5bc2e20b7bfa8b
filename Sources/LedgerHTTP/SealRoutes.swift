import Hummingbird
import LedgerCore
import LedgerStore
import PostgresNIO

/// What an auditor reads without a key: the signed seals, the public keys that sign them, and
/// RFC 9162 consistency proofs between two seals. Read on the reads' pool (a flood of these takes
/// no connection appends need).
extension LedgerAPI {
    func addSealRoutes(to router: Router<LedgerRequestContext>) {
        router.get("/v1/seals/latest") { _, _ in
            try await self.sealRead { integrity, connection in .object(["seal": try await integrity.signedSeal(nil, on: connection).json]) }
        }
        router.get("/v1/seals/keys") { _, _ in
            try await self.sealRead { integrity, connection in
                .object(["keys": .array(try await integrity.sealKeys(on: connection).map(\.json))])
            }
        }
        router.get("/v1/seals/consistency") { request, _ in
            let query = request.uri.queryParameters
            guard query["from"] != nil, query["to"] != nil else {
                throw LedgerError(.invalidField, "from and to (seal numbers) are required", field: query["from"] == nil ? "from" : "to")
            }
            let from = try query.integer("from", default: 1, range: 1...Int64.max)
            let to = try query.integer("to", default: 1, range: 1...Int64.max)
            return try await self.sealRead { integrity, connection in
                let (first, second, proof) = try await integrity.consistency(from: from, to: to, on: connection)
                return .object(["from": first.json, "to": second.json, "proof": .array(proof.map { .string(Hex.encode($0)) })])
            }
        }
        router.get("/v1/seals/:seal") { _, context in
            guard let text = context.parameters.get("seal"), let sequence = Int64(text), sequence >= 1 else {
                throw LedgerError(.invalidField, "the seal in the path must be a seal number (1, 2, …) or latest", field: "seal")
            }
            return try await self.sealRead { integrity, connection in .object(["seal": try await integrity.signedSeal(sequence, on: connection).json]) }
        }
    }

    private func sealRead(_ body: @escaping @Sendable (Integrity, PostgresConnection) async throws -> JSON) async throws -> Response {
        let client = reads.client, logger = store.logger
        let json = try await db {
            try await client.withConnection { connection in
                try await body(Integrity(client: client, logger: logger), connection)
            }
        }
        return Reply.json(.ok, json)
    }
}
