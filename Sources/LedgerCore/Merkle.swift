import Crypto

/// The Merkle tree of RFC 9162 §2.1 (Certificate Transparency 2.0) over the ledger's events in
/// gap-free position order: leaf `i` is the `i`-th event, its leaf hash `SHA-256(0x00 ‖ h)` with `h`
/// the event's 32-byte hash, interior nodes `SHA-256(0x01 ‖ left ‖ right)`.
///
/// The tree is never held whole: `MerkleNodes` answers the hash of any subtree from what a proof
/// or a seal needs (the roots of complete tiles of `tileSize` leaves, and the leaves of the few
/// tiles a proof reaches into), and the proofs and roots here are computed through it.
public enum Merkle {
    public typealias Hash = [UInt8]

    /// Leaves per tile: the store keeps the root of every complete tile, so no subtree computation
    /// reads more than one tile's leaves.
    public static let tileSize = 256

    public static func leafHash(_ data: some Sequence<UInt8>) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: Array(data))
        return Array(hasher.finalize())
    }

    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The root of an empty tree: SHA-256 of nothing.
    public static let emptyRoot: Hash = Array(SHA256.hash(data: [UInt8]()))

    /// The largest power of two smaller than `n` (n ≥ 2).
    static func split(_ n: Int) -> Int {
        precondition(n >= 2)
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// MTH over leaf hashes (a whole small tree in memory: tiles, tests).
    public static func root(leafHashes: ArraySlice<Hash>) -> Hash {
        switch leafHashes.count {
        case 0: return emptyRoot
        case 1: return leafHashes.first!
        default:
            let k = split(leafHashes.count)
            let start = leafHashes.startIndex
            return nodeHash(root(leafHashes: leafHashes[start..<(start + k)]), root(leafHashes: leafHashes[(start + k)...]))
        }
    }

    /// PATH(m, D[n]) of RFC 9162 §2.1.3.1: the inclusion proof of leaf `index` in the tree of the
    /// first `size` leaves.
    public static func inclusionProof(index: Int, size: Int, nodes: MerkleNodes) throws(MerkleNodes.Missing) -> [Hash] {
        precondition(index >= 0 && index < size)
        return try path(index, 0..<size, nodes)
    }

    private static func path(_ m: Int, _ range: Range<Int>, _ nodes: MerkleNodes) throws(MerkleNodes.Missing) -> [Hash] {
        guard range.count > 1 else { return [] }
        let k = split(range.count)
        let left = range.lowerBound..<(range.lowerBound + k), right = (range.lowerBound + k)..<range.upperBound
        if m < k { return try path(m, left, nodes) + [nodes.root(of: right)] }
        return try path(m - k, right, nodes) + [nodes.root(of: left)]
    }

    /// PROOF(m, D[n]) of RFC 9162 §2.1.4.1: that the tree of the first `to` leaves extends the tree
    /// of the first `from` (0 < from ≤ to).
    public static func consistencyProof(from m: Int, to n: Int, nodes: MerkleNodes) throws(MerkleNodes.Missing) -> [Hash] {
        precondition(m > 0 && m <= n)
        return try subproof(m, 0..<n, true, nodes)
    }

    private static func subproof(_ m: Int, _ range: Range<Int>, _ whole: Bool, _ nodes: MerkleNodes) throws(MerkleNodes.Missing) -> [Hash] {
        let n = range.count
        if m == n { return whole ? [] : [try nodes.root(of: range)] }
        let k = split(n)
        let left = range.lowerBound..<(range.lowerBound + k), right = (range.lowerBound + k)..<range.upperBound
        if m <= k { return try subproof(m, left, whole, nodes) + [nodes.root(of: right)] }
        return try subproof(m - k, right, false, nodes) + [nodes.root(of: left)]
    }

    /// RFC 9162 §2.1.3.2: whether `proof` proves the leaf hash at `index` in a tree of `size`
    /// leaves with root `root`.
    public static func verifyInclusion(index: Int, size: Int, leafHash: Hash, proof: [Hash], root: Hash) -> Bool {
        guard index >= 0, index < size else { return false }
        var fn = index, sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// RFC 9162 §2.1.4.2: whether `proof` proves that the tree of `second` leaves with root
    /// `secondRoot` extends the tree of `first` leaves with root `firstRoot`.
    public static func verifyConsistency(first: Int, second: Int, firstRoot: Hash, secondRoot: Hash, proof: [Hash]) -> Bool {
        guard first > 0, first <= second else { return false }
        if first == second { return proof.isEmpty && firstRoot == secondRoot }
        var proof = proof
        // A first tree that is a complete subtree is its own first node.
        if first & (first - 1) == 0 { proof.insert(firstRoot, at: 0) }
        guard !proof.isEmpty else { return false }
        var fn = first - 1, sn = second - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = proof[0], sr = proof[0]
        for c in proof.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == firstRoot && sr == secondRoot && sn == 0
    }
}

/// What a proof or a root is computed from: the roots of complete tiles (`Merkle.tileSize` leaves
/// each, tile `t` covering leaves `t·tileSize ..< (t+1)·tileSize`) and the leaf hashes of some
/// tiles. Any subtree's hash follows: whole tiles combine their roots, the rest hashes leaves.
public struct MerkleNodes: Sendable {
    /// A subtree needed leaves that were not loaded (a bug in the caller's choice of tiles).
    public struct Missing: Error, Sendable, CustomStringConvertible {
        public var leaf: Int
        public var description: String { "the Merkle tree's leaf \(leaf) was not loaded" }
    }

    public var tileRoots: [Merkle.Hash]
    /// Leaf hashes by leaf index.
    public var leaves: [Int: Merkle.Hash]

    public init(tileRoots: [Merkle.Hash] = [], leaves: [Int: Merkle.Hash] = [:]) {
        self.tileRoots = tileRoots
        self.leaves = leaves
    }

    /// The hash of the subtree over `range` (MTH of those leaves).
    public func root(of range: Range<Int>) throws(Missing) -> Merkle.Hash {
        let size = Merkle.tileSize
        switch range.count {
        case 0: return Merkle.emptyRoot
        case 1:
            guard let leaf = leaves[range.lowerBound] else { throw Missing(leaf: range.lowerBound) }
            return leaf
        default:
            // A complete, aligned run of whole tiles whose roots are known: combine the roots.
            if range.lowerBound % size == 0, range.count % size == 0, (range.count / size) & (range.count / size - 1) == 0,
                range.upperBound / size <= tileRoots.count
            {
                let first = range.lowerBound / size, count = range.count / size
                if count == 1 { return tileRoots[first] }
                return Merkle.root(leafHashes: tileRoots[first..<(first + count)])
            }
            let k = Merkle.split(range.count)
            return Merkle.nodeHash(
                try root(of: range.lowerBound..<(range.lowerBound + k)), try root(of: (range.lowerBound + k)..<range.upperBound))
        }
    }
}

/// The right edge of a growing tree (the roots of its complete subtrees, largest first): leaves
/// are added one by one and the root of the tree so far is known at every step, in O(log n)
/// memory. `verify` walks the log with it.
public struct MerkleFrontier: Sendable {
    private var stack: [(size: Int64, hash: Merkle.Hash)] = []
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func append(leafHash: Merkle.Hash) {
        var node = (size: Int64(1), hash: leafHash)
        while let last = stack.last, last.size == node.size {
            stack.removeLast()
            node = (last.size * 2, Merkle.nodeHash(last.hash, node.hash))
        }
        stack.append(node)
        count += 1
    }

    /// The root of the tree of every leaf added so far.
    public var root: Merkle.Hash {
        guard var root = stack.last?.hash else { return Merkle.emptyRoot }
        for node in stack.dropLast().reversed() { root = Merkle.nodeHash(node.hash, root) }
        return root
    }
}
