/// RFC 8785 (JSON Canonicalization Scheme) serialisation. The ledger's values hold no floats, so
/// numbers are plain integers; keys are sorted by their UTF-16 code units; strings use the minimal
/// escapes of ECMAScript's JSON.stringify. The same writer produces every JSON the ledger emits, so
/// what it stores, hashes and serves agree byte for byte.
extension JSON {
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out)
        return out
    }

    public var canonicalString: String { String(decoding: canonicalBytes, as: UTF8.self) }

    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): JSON.writeInteger(i, into: &out)
        case .decimal(let units, let scale): out.append(contentsOf: JSON.decimalText(units: units, scale: scale).utf8)
        case .string(let s): JSON.writeString(s, into: &out)
        case .canonical(let bytes): out.append(contentsOf: bytes)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                element.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, key) in JSON.sortedKeys(members).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                members[key]!.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// The decimal digits of `value`, written without an intermediate string.
    static func writeInteger(_ value: Int64, into out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        guard magnitude > 0 else { return out.append(UInt8(ascii: "0")) }
        let start = out.count
        while magnitude > 0 {
            out.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        out[start...].reverse()
    }

    /// The keys in RFC 8785 order. Objects here have a few dozen keys at most: an insertion sort of
    /// the keys alone moves less than sorting the members (this runs for every object served).
    static func sortedKeys(_ members: [String: JSON]) -> [String] {
        var keys = Array(members.keys)
        guard keys.count <= 32 else { return keys.sorted(by: utf16Less) }
        var i = 1
        while i < keys.count {
            var j = i
            while j > 0 && utf16Less(keys[j], keys[j - 1]) {
                keys.swapAt(j, j - 1)
                j -= 1
            }
            i += 1
        }
        return keys
    }

    /// RFC 8785 orders keys by UTF-16 code units. UTF-8 byte order is code point order, which
    /// agrees with UTF-16 order except between U+E000...U+FFFF and the supplementary planes (lead
    /// bytes 0xEE and up), so bytes decide unless the first difference involves such a character.
    static func utf16Less(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        let decided: Bool? = a.withUTF8 { x in
            b.withUTF8 { y -> Bool? in
                let n = min(x.count, y.count)
                var i = 0
                while i < n && x[i] == y[i] { i += 1 }
                if i == n { return x.count < y.count }
                if x[i] < 0xEE && y[i] < 0xEE { return x[i] < y[i] }
                return nil
            }
        }
        return decided ?? a.utf16.lexicographicallyPrecedes(b.utf16)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `writeString` of a string's UTF-8 bytes.
    public static func writeString(utf8 bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        guard bytes.allSatisfy(plain) else { return writeString(String(decoding: bytes, as: UTF8.self), into: &out) }
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: bytes)
        out.append(UInt8(ascii: "\""))
    }

    /// A byte that stands for itself inside a string.
    @inline(__always) private static func plain(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
    }

    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape: copy them whole (native strings are contiguous UTF-8).
        let copied = s.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            for byte in bytes where !plain(byte) { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if copied == true || (copied == nil && s.utf8.allSatisfy(plain)) {
            if copied == nil { out.append(contentsOf: s.utf8) }
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSON {
    /// Convenience accessors used when reading typed fields.
    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }
}

extension JSON {
    /// The shortest exact text of `units / 10^scale`: "0.5714", "4.25", "1", "-0.5".
    public static func decimalText(units: Int64, scale: Int) -> String {
        guard scale > 0 else { return String(units) }
        let negative = units < 0
        var digits = String(units.magnitude)
        if digits.count <= scale { digits = String(repeating: "0", count: scale - digits.count + 1) + digits }
        var whole = String(digits.dropLast(scale))
        var fraction = String(digits.suffix(scale))
        while fraction.hasSuffix("0") { fraction.removeLast() }
        if whole.isEmpty { whole = "0" }
        let text = fraction.isEmpty ? whole : whole + "." + fraction
        return negative && text != "0" ? "-" + text : text
    }
}

/// Objects with one fixed set of keys, written in canonical form without building a `JSON` object
/// for each: the keys' order and their quoted bytes are worked out once. The same writer pieces as
/// `JSON.write`, so the bytes are the ones `.object(...).canonicalBytes` would give.
public struct CanonicalShape: Sendable {
    public let keys: [String]
    /// Indexes into `keys`, in canonical key order.
    private let order: [Int]
    /// `{"key":` for the first key in order, `,"key":` for the others.
    private let prefixes: [[UInt8]]

    public init(_ keys: [String]) {
        precondition(Set(keys).count == keys.count, "CanonicalShape keys must be unique")
        self.keys = keys
        let sorted = JSON.sortedKeys(Dictionary(uniqueKeysWithValues: keys.map { ($0, JSON.null) }))
        order = sorted.map { key in keys.firstIndex(of: key)! }
        prefixes = sorted.enumerated().map { i, key in
            var bytes: [UInt8] = [UInt8(ascii: i == 0 ? "{" : ",")]
            JSON.writeString(key, into: &bytes)
            bytes.append(UInt8(ascii: ":"))
            return bytes
        }
    }

    /// Writes one object; `values` are in the order of `keys`.
    public func write(_ values: [JSON], into out: inout [UInt8]) {
        precondition(values.count == keys.count, "CanonicalShape.write takes one value per key")
        write(into: &out) { values[$0].write(into: &$1) }
    }

    /// Writes one object; `value(i, &out)` writes the value of `keys[i]` (canonical JSON).
    public func write(into out: inout [UInt8], _ value: (_ key: Int, _ out: inout [UInt8]) throws -> Void) rethrows {
        if order.isEmpty { return out.append(contentsOf: "{}".utf8) }
        for (i, index) in order.enumerated() {
            out.append(contentsOf: prefixes[i])
            try value(index, &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}
