import Foundation
import HTTPTypes
import HummingbirdTesting
import LedgerCore
import LedgerHTTP
import LedgerStore
import Testing

/// The seal routes, through the real router, with no API key.
@Suite("Seal routes")
struct SealRouteTests {
    @Test("signed seals, their keys and consistency proofs need no key and verify; bad and unknown seals are 400 and 404")
    func sealRoutes() async throws {
        try await APIFixture.with { f, client in
            // Before any seal.
            let none = try await client.call(.get, "/v1/seals/latest")
            #expect(none.status == .notFound)
            #expect(none.json["error"]?["message"].map { "\($0)".contains("placementctl seal") } == true)
            // Two seals over a tree that spans tiles.
            for n in 0..<3 {
                var batch: [Event] = []
                for p in 0..<(n == 0 ? 100 : 30) {
                    var e = Events("p-sr-\(n)-\(p)")
                    batch += e.placement("s-1")
                }
                _ = try await f.ledger.store.append(batch)
                if n < 2 { _ = try await f.ledger.seal() }
            }
            _ = try await f.ledger.seal()
            let keys = try await client.call(.get, "/v1/seals/keys")
            #expect(keys.status == .ok)
            guard case .array(let list)? = keys.json["keys"], case .string(let publicBase64)? = list.first?["public_key"] else {
                Issue.record("no key listed: \(keys.json)")
                return
            }
            let publicKey = Array(Data(base64Encoded: publicBase64)!)
            #expect(publicKey == TestLedger.sealKey.publicKey)
            #expect(list.first?["algorithm"] == .string("ed25519") && list.first?["retired_at"] == .null)
            let latest = try await client.call(.get, "/v1/seals/latest")
            #expect(latest.status == .ok)
            let third = try #require(latest.json["seal"].flatMap(SignedSeal.init(json:)))
            #expect(third.sequence == 3 && third.treeSize == 480 && third.hasValidSignature(publicKey: publicKey))
            let first = try #require(try await client.call(.get, "/v1/seals/1").json["seal"].flatMap(SignedSeal.init(json:)))
            #expect(first.treeSize == 300 && first.hasValidSignature(publicKey: publicKey))
            // A changed field breaks the signature.
            var altered = first
            altered.treeSize += 1
            #expect(!altered.hasValidSignature(publicKey: publicKey))
            for (from, to) in [(1, 3), (2, 3), (1, 2), (3, 3)] {
                let reply = try await client.call(.get, "/v1/seals/consistency?from=\(from)&to=\(to)")
                #expect(reply.status == .ok)
                guard case .array(let nodes)? = reply.json["proof"], let a = reply.json["from"].flatMap(SignedSeal.init(json:)),
                    let b = reply.json["to"].flatMap(SignedSeal.init(json:))
                else {
                    Issue.record("consistency \(from)…\(to): \(reply.json)")
                    continue
                }
                let proof = nodes.compactMap { node -> Merkle.Hash? in if case .string(let hex) = node { Hex.decode(hex) } else { nil } }
                #expect(a.sequence == Int64(from) && b.sequence == Int64(to))
                #expect(
                    Merkle.verifyConsistency(first: Int(a.treeSize), second: Int(b.treeSize), firstRoot: a.root, secondRoot: b.root, proof: proof),
                    "\(from)…\(to)")
                if !proof.isEmpty {
                    var bad = proof
                    bad[0][0] ^= 1
                    #expect(!Merkle.verifyConsistency(first: Int(a.treeSize), second: Int(b.treeSize), firstRoot: a.root, secondRoot: b.root, proof: bad))
                }
            }
            // Rejections, in the contract's shape.
            for (uri, status, field) in [
                ("/v1/seals/consistency?from=3&to=1", HTTPResponse.Status.badRequest, "from"), ("/v1/seals/consistency?from=1", .badRequest, "to"),
                ("/v1/seals/consistency?from=0&to=2", .badRequest, "from"), ("/v1/seals/abc", .badRequest, "seal"), ("/v1/seals/0", .badRequest, "seal"),
            ] {
                let reply = try await client.call(.get, uri)
                #expect(reply.status == status, "\(uri)")
                #expect(reply.json["error"]?["code"] == .string("invalid_field") && reply.json["error"]?["field"] == .string(field), "\(uri): \(reply.json)")
            }
            for uri in ["/v1/seals/9", "/v1/seals/consistency?from=1&to=9"] {
                let reply = try await client.call(.get, uri)
                #expect(reply.status == .notFound, "\(uri)")
                #expect(reply.json["error"]?["code"] == .string("not_found"))
            }
        }
    }
}
