import Foundation
import Testing

@testable import LedgerCore

/// RFC 9162 §2.1 against the public Certificate Transparency vectors (`Tests/testdata`), and the
/// tiled computation against the whole tree in memory.
@Suite("Merkle tree (RFC 9162)")
struct MerkleTests {
    struct Vectors: Decodable {
        struct Inclusion: Decodable {
            var tree_size: Int
            var leaf_index: Int
            var path: [String]
        }

        struct Consistency: Decodable {
            var from: Int
            var to: Int
            var proof: [String]
        }

        var leaf_data_hex: [String]
        var leaf_hashes: [String]
        var roots: [String: String]
        var inclusion: [Inclusion]
        var consistency: [Consistency]
    }

    static let vectors: Vectors = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("testdata/rfc9162-merkle-vectors.json")
        return try! JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }()

    var leaves: [Merkle.Hash] { Self.vectors.leaf_hashes.map { Hex.decode($0)! } }

    func nodes(_ count: Int) -> MerkleNodes {
        MerkleNodes(leaves: Dictionary(uniqueKeysWithValues: leaves.prefix(count).enumerated().map { ($0.offset, $0.element) }))
    }

    @Test("leaf hashes and the roots of trees of 1 to 8 leaves")
    func roots() throws {
        let v = Self.vectors
        #expect(v.leaf_data_hex.map { Hex.encode(Merkle.leafHash(Hex.decode($0)!)) } == v.leaf_hashes)
        #expect(v.roots.count == 8)
        for (size, root) in v.roots {
            let n = Int(size)!
            #expect(Hex.encode(Merkle.root(leafHashes: leaves.prefix(n)[...])) == root, "size \(n)")
            #expect(Hex.encode(try nodes(n).root(of: 0..<n)) == root, "size \(n)")
        }
        #expect(Hex.encode(Merkle.emptyRoot) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("inclusion proofs are the vectors' and verify; a changed node, index or root fails")
    func inclusion() throws {
        #expect(Self.vectors.inclusion.count > 30)
        for v in Self.vectors.inclusion {
            let proof = try Merkle.inclusionProof(index: v.leaf_index, size: v.tree_size, nodes: nodes(v.tree_size))
            #expect(proof.map(Hex.encode) == v.path, "leaf \(v.leaf_index) of \(v.tree_size)")
            let root = Hex.decode(Self.vectors.roots[String(v.tree_size)]!)!
            let leaf = leaves[v.leaf_index]
            #expect(Merkle.verifyInclusion(index: v.leaf_index, size: v.tree_size, leafHash: leaf, proof: proof, root: root))
            if !proof.isEmpty {
                var bad = proof
                bad[bad.count - 1][0] ^= 1
                #expect(!Merkle.verifyInclusion(index: v.leaf_index, size: v.tree_size, leafHash: leaf, proof: bad, root: root))
                #expect(!Merkle.verifyInclusion(index: v.leaf_index, size: v.tree_size, leafHash: leaf, proof: Array(proof.dropLast()), root: root))
            }
            if v.tree_size > 1 {
                let other = (v.leaf_index + 1) % v.tree_size
                #expect(!Merkle.verifyInclusion(index: other, size: v.tree_size, leafHash: leaf, proof: proof, root: root))
            }
            #expect(!Merkle.verifyInclusion(index: v.leaf_index, size: v.tree_size, leafHash: leaf, proof: proof, root: Merkle.emptyRoot))
        }
    }

    @Test("consistency proofs are the vectors' and verify; a changed node or root fails")
    func consistency() throws {
        #expect(Self.vectors.consistency.count > 20)
        for v in Self.vectors.consistency {
            let proof = try Merkle.consistencyProof(from: v.from, to: v.to, nodes: nodes(v.to))
            #expect(proof.map(Hex.encode) == v.proof, "\(v.from) to \(v.to)")
            let first = Hex.decode(Self.vectors.roots[String(v.from)]!)!, second = Hex.decode(Self.vectors.roots[String(v.to)]!)!
            #expect(Merkle.verifyConsistency(first: v.from, second: v.to, firstRoot: first, secondRoot: second, proof: proof))
            #expect(!Merkle.verifyConsistency(first: v.from, second: v.to, firstRoot: second, secondRoot: first, proof: proof) || v.from == v.to)
            if !proof.isEmpty {
                var bad = proof
                bad[0][5] ^= 0x80
                #expect(!Merkle.verifyConsistency(first: v.from, second: v.to, firstRoot: first, secondRoot: second, proof: bad))
            }
        }
    }

    @Test("tiles: roots and proofs from tile roots and a few tiles' leaves equal the whole tree's; a leaf not loaded is named")
    func tiles() throws {
        var generator = SystemRandomNumberGenerator()
        let all = (0..<1000).map { _ in Merkle.leafHash((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }) }
        let whole = MerkleNodes(leaves: Dictionary(uniqueKeysWithValues: all.enumerated().map { ($0.offset, $0.element) }))
        let size = Merkle.tileSize
        let tileRoots = (0..<(all.count / size)).map { Merkle.root(leafHashes: all[($0 * size)..<(($0 + 1) * size)]) }
        func tiled(_ tiles: [Int]) -> MerkleNodes {
            var leaves: [Int: Merkle.Hash] = [:]
            for t in tiles { for i in (t * size)..<min((t + 1) * size, all.count) { leaves[i] = all[i] } }
            return MerkleNodes(tileRoots: tileRoots, leaves: leaves)
        }
        for n in [1, 255, 256, 257, 512, 700, 768, 999, 1000] {
            let lastTile = (n - 1) / size
            #expect(try tiled([lastTile]).root(of: 0..<n) == Merkle.root(leafHashes: all.prefix(n)[...]), "size \(n)")
            for index in Set([0, n / 2, n - 1]) {
                let proof = try Merkle.inclusionProof(index: index, size: n, nodes: tiled([index / size, lastTile]))
                #expect(proof == (try Merkle.inclusionProof(index: index, size: n, nodes: whole)))
            }
            for m in Set([1, n / 3 + 1, n]) where m <= n {
                let proof = try Merkle.consistencyProof(from: m, to: n, nodes: tiled([(m - 1) / size, lastTile]))
                #expect(proof == (try Merkle.consistencyProof(from: m, to: n, nodes: whole)))
                #expect(
                    Merkle.verifyConsistency(
                        first: m, second: n, firstRoot: try whole.root(of: 0..<m), secondRoot: try whole.root(of: 0..<n), proof: proof))
            }
        }
        #expect(throws: MerkleNodes.Missing.self) { try Merkle.inclusionProof(index: 10, size: 1000, nodes: tiled([3])) }
    }
}
