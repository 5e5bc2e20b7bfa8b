import Foundation
public import LedgerCore
public import Logging
public import PostgresNIO

/// Why a seal key cannot be used or made.
public struct SealKeyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The private halves of the seal signing keys: one file per key, `<key id>.ed25519` (the raw 32
/// bytes in base64), mode 0600 in a directory of mode 0700, never in the database. The public
/// halves are rows of `seal_keys`, written with the owner's credentials.
public struct SealKeyring: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    func path(_ id: String) -> String { directory + "/" + id + ".ed25519" }

    /// Makes a key: writes its file (refusing to overwrite one) and publishes its public half.
    public func create(owner client: any DatabaseClient, logger: Logger) async throws -> PublishedSealKey {
        let key = SealSigningKey()
        try write(key)
        var info = PublishedSealKey(id: key.id, publicKey: key.publicKey, createdAt: Timestamp(microseconds: 0), retiredAt: nil)
        try await client.withConnection { connection in
            let rows = try await connection.run(
                """
                INSERT INTO seal_keys (key_id, public_key) VALUES (\(key.id), decode(\(Hex.encode(key.publicKey)), 'hex'))
                RETURNING (extract(epoch FROM created_at) * 1000000)::int8
                """, logger: logger)
            for try await created in rows.decode(Int64.self) { info.createdAt = Timestamp(microseconds: created) }
        }
        return info
    }

    /// Marks a key retired: it signs no more seals; its public half stays listed so that the seals
    /// it signed still verify. False when no unretired key has that id.
    public static func retire(_ id: String, owner client: any DatabaseClient, logger: Logger) async throws -> Bool {
        try await client.withConnection { connection in
            var changed = false
            for try await _ in try await connection.run(
                "UPDATE seal_keys SET retired_at = now() WHERE key_id = \(id) AND retired_at IS NULL RETURNING key_id", logger: logger)
            {
                changed = true
            }
            return changed
        }
    }

    /// Whether this directory holds the private half of `id`.
    public func has(_ id: String) -> Bool { FileManager.default.fileExists(atPath: path(id)) }

    /// The key that signs new seals: the newest unretired published key whose file is here; nil
    /// when there is none.
    public func signer(from keys: [PublishedSealKey]) throws -> SealSigningKey? {
        for info in keys.reversed() where info.retiredAt == nil && has(info.id) {
            let key = try read(info.id)
            guard key.publicKey == info.publicKey else {
                throw SealKeyError(message: "the key file \(path(info.id)) does not hold the key published as \(info.id)")
            }
            return key
        }
        return nil
    }

    private func write(_ key: SealSigningKey) throws {
        try ensureDirectory()
        let fd = open(path(key.id), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SealKeyError(message: "cannot create \(path(key.id)): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let text = Array((Data(key.rawRepresentation).base64EncodedString() + "\n").utf8)
        guard text.withUnsafeBytes({ Foundation.write(fd, $0.baseAddress, $0.count) }) == text.count, fsync(fd) == 0 else {
            throw SealKeyError(message: "cannot write \(path(key.id)): \(String(cString: strerror(errno)))")
        }
    }

    private func read(_ id: String) throws -> SealSigningKey {
        var status = stat()
        guard lstat(path(id), &status) == 0 else { throw SealKeyError(message: "cannot read \(path(id)): \(String(cString: strerror(errno)))") }
        guard status.st_mode & S_IFMT == S_IFREG, status.st_mode & 0o077 == 0 else {
            throw SealKeyError(
                message: "the seal key file \(path(id)) must be a regular file that only its owner can read (chmod 600 \(path(id)))")
        }
        guard let text = FileManager.default.contents(atPath: path(id)),
            let raw = Data(base64Encoded: String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw SealKeyError(message: "the seal key file \(path(id)) does not hold a base64 key") }
        return try SealSigningKey(rawRepresentation: Array(raw))
    }

    private func ensureDirectory() throws {
        var status = stat()
        if lstat(directory, &status) != 0 {
            guard mkdir(directory, 0o700) == 0 else {
                throw SealKeyError(message: "cannot create the seal key directory \(directory): \(String(cString: strerror(errno)))")
            }
            return
        }
        guard status.st_mode & S_IFMT == S_IFDIR, status.st_mode & 0o077 == 0 else {
            throw SealKeyError(message: "the seal key directory \(directory) must be a directory only its owner can enter (chmod 700 \(directory))")
        }
    }
}

extension DatabaseLocation {
    /// Where the seal keys' private halves are: `explicit` (`--seal-keys`), else
    /// `$PLACEMENT_SEAL_KEYS`, else `seal-keys` in the embedded cluster's data directory; nil for
    /// an external database with neither (such a daemon cannot sign seals).
    public func sealKeyring(explicit: String?, environment: [String: String]) -> SealKeyring? {
        if let directory = explicit ?? environment["PLACEMENT_SEAL_KEYS"], !directory.isEmpty { return SealKeyring(directory: directory) }
        if case .embedded(let dataDirectory) = self { return SealKeyring(directory: dataDirectory + "/seal-keys") }
        return nil
    }
}

extension Integrity {
    /// The key that signs the next seal, from `keyring` and the published keys; throws with the
    /// command that fixes it when there is none.
    public func signer(from keyring: SealKeyring?) async throws -> SealSigningKey {
        guard let keyring else {
            throw SealKeyError(
                message: "no seal key directory: pass --seal-keys DIR (or set PLACEMENT_SEAL_KEYS) where `placementctl seal-keys create` wrote the key")
        }
        let keys = try await client.withConnection { try await self.sealKeys(on: $0) }
        guard let key = try keyring.signer(from: keys) else {
            throw SealKeyError(
                message: "no unretired seal key has its private half in \(keyring.directory): run `placementctl seal-keys create --seal-keys \(keyring.directory)`")
        }
        return key
    }
}
