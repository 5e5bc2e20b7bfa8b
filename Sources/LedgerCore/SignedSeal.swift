import Crypto
import Foundation

/// A seal of format 2: it commits to the RFC 9162 Merkle tree of every event up to
/// `uptoPosition` (`treeSize` leaves, in gap-free position order) and names the seal before it by
/// digest; it is signed with Ed25519 over the RFC 8785 canonical JSON of its object without
/// `signature`, and its digest is the SHA-256 of those same bytes. Anyone with the public key can
/// check it without the database.
public struct SignedSeal: SignedStatement, Hashable {
    public var sequence: Int64
    public var treeSize: Int64
    public var uptoPosition: Int64
    public var root: [UInt8]
    /// The digest of seal `sequence - 1` (of either format); nil for the first seal.
    public var previous: [UInt8]?
    public var sealedAt: Timestamp
    public var keyID: String
    public var signature: [UInt8]

    public init(
        sequence: Int64, treeSize: Int64, uptoPosition: Int64, root: [UInt8], previous: [UInt8]?, sealedAt: Timestamp, keyID: String,
        signature: [UInt8] = []
    ) {
        self.sequence = sequence
        self.treeSize = treeSize
        self.uptoPosition = uptoPosition
        self.root = root
        self.previous = previous
        self.sealedAt = sealedAt
        self.keyID = keyID
        self.signature = signature
    }

    /// The object without `signature`: what is signed and digested.
    public var body: JSON {
        .object([
            "seal": .int(sequence), "tree_size": .int(treeSize), "up_to_position": .int(uptoPosition), "root": .string(Hex.encode(root)),
            "previous": previous.map { .string(Hex.encode($0)) } ?? .null, "sealed_at": .string(sealedAt.rfc3339), "key_id": .string(keyID),
        ])
    }

    /// The seal as served: the body and its signature (base64).
    public var json: JSON {
        guard case .object(var fields) = body else { return body }
        fields["signature"] = .string(Data(signature).base64EncodedString())
        return .object(fields)
    }

    public var digest: [UInt8] { Array(SHA256.hash(data: body.canonicalBytes)) }


    /// A seal read from its JSON (a proof file, `GET /v1/seals/...`); nil when a field is missing
    /// or malformed.
    public init?(json: JSON) {
        guard case .int(let sequence)? = json["seal"], case .int(let treeSize)? = json["tree_size"],
            case .int(let upto)? = json["up_to_position"], case .string(let rootHex)? = json["root"], let root = Hex.decode(rootHex),
            case .string(let sealedAtText)? = json["sealed_at"], let sealedAt = Timestamp(rfc3339: sealedAtText),
            case .string(let keyID)? = json["key_id"], case .string(let signatureText)? = json["signature"],
            let signature = Data(base64Encoded: signatureText)
        else { return nil }
        var previous: [UInt8]?
        switch json["previous"] {
        case .string(let hex)?:
            guard let bytes = Hex.decode(hex) else { return nil }
            previous = bytes
        case .null?: previous = nil
        default: return nil
        }
        self.init(
            sequence: sequence, treeSize: treeSize, uptoPosition: upto, root: root, previous: previous, sealedAt: sealedAt, keyID: keyID,
            signature: Array(signature))
    }
}

/// An Ed25519 key that signs seals. Its id is derived from the public key, so a key file and a
/// published public key can be matched without trusting a name.
public struct SealSigningKey: Sendable {
    let privateKey: Curve25519.Signing.PrivateKey

    public init() { privateKey = Curve25519.Signing.PrivateKey() }

    public init(rawRepresentation: [UInt8]) throws {
        privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation)
    }

    public var publicKey: [UInt8] { Array(privateKey.publicKey.rawRepresentation) }
    public var rawRepresentation: [UInt8] { Array(privateKey.rawRepresentation) }
    public var id: String { Self.id(publicKey: publicKey) }

    /// `sk-` and the first 16 hex digits of the public key's SHA-256.
    public static func id(publicKey: [UInt8]) -> String {
        "sk-" + Hex.encode(Array(SHA256.hash(data: publicKey).prefix(8)))
    }
}

/// The ledger's signed statement that, as of seal `seal`, posting `postingID`'s stream ends at
/// `version` with `eventHash`: what makes a placement proof's stream complete to its end, not just
/// up to an event someone chose (a proof cut short before a later event of the student would need
/// a statement the ledger never signed). Signed like a seal: Ed25519 over the RFC 8785 bytes of
/// `body`.
public struct SignedStreamHead: SignedStatement, Hashable {
    public var postingID: String
    public var seal: Int64
    public var version: Int64
    public var eventHash: [UInt8]
    public var keyID: String
    public var signature: [UInt8]

    public init(postingID: String, seal: Int64, version: Int64, eventHash: [UInt8], keyID: String = "", signature: [UInt8] = []) {
        self.postingID = postingID
        self.seal = seal
        self.version = version
        self.eventHash = eventHash
        self.keyID = keyID
        self.signature = signature
    }

    public var body: JSON {
        .object([
            "statement": .string("stream_head"), "posting_id": .string(postingID), "seal": .int(seal), "version": .int(version),
            "event_hash": .string(Hex.encode(eventHash)), "key_id": .string(keyID),
        ])
    }

    /// As a proof carries it (`posting_id` is the proof's own).
    public var json: JSON {
        .object([
            "seal": .int(seal), "version": .int(version), "event_hash": .string(Hex.encode(eventHash)), "key_id": .string(keyID),
            "signature": .string(Data(signature).base64EncodedString()),
        ])
    }


    public init?(json: JSON, postingID: String) {
        guard case .int(let seal)? = json["seal"], case .int(let version)? = json["version"],
            case .string(let hashHex)? = json["event_hash"], let hash = Hex.decode(hashHex), hash.count == 32,
            case .string(let keyID)? = json["key_id"], case .string(let signatureText)? = json["signature"],
            let signature = Data(base64Encoded: signatureText)
        else { return nil }
        self.init(postingID: postingID, seal: seal, version: version, eventHash: hash, keyID: keyID, signature: Array(signature))
    }
}

/// What the ledger signs with a seal key (a seal, a stream head): Ed25519 over the RFC 8785 bytes
/// of `body`, which names the signing key.
public protocol SignedStatement: Sendable {
    var body: JSON { get }
    var keyID: String { get set }
    var signature: [UInt8] { get set }
}

extension SignedStatement {
    /// This statement signed with `key` (whose id it then names).
    public func signed(with key: SealSigningKey) throws -> Self {
        var statement = self
        statement.keyID = key.id
        statement.signature = Array(try key.privateKey.signature(for: statement.body.canonicalBytes))
        return statement
    }

    /// Whether `signature` is the signature of the body by the raw 32-byte Ed25519 `publicKey`.
    public func hasValidSignature(publicKey: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: body.canonicalBytes)
    }
}
