/// A JSON value as the ledger accepts it: integers only (money, minutes and ratings are integers),
/// no floating point anywhere. Objects keep unique keys; order is irrelevant because the canonical
/// form sorts them.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case string(String)
    case array([JSON])
    case object([String: JSON])
    /// A fixed-point decimal `units / 10^scale`, for report figures such as rates and averages.
    /// Written, never parsed: nothing a client sends may hold a fraction.
    case decimal(units: Int64, scale: Int)
    /// A value already written in canonical form (by `CanonicalShape`, for lists of thousands of
    /// rows): written out as it is, never parsed, and equal only to the same bytes.
    case canonical([UInt8])

    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        case .decimal: "number"
        case .canonical: "JSON"
        }
    }
}

/// Why a byte sequence is not acceptable JSON.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    /// True when the text is well-formed JSON but uses something the ledger forbids (a float).
    public var isFloat: Bool
    /// True for an integer that does not fit in 64 bits.
    public var isOutOfRange = false
    /// Where in the document: keys joined by dots, array indexes as `[i]` (e.g. `[2].data.minutes`).
    public var path = ""

    /// Well-formed JSON with a value the ledger does not accept (a float, a huge integer): a field
    /// problem rather than a syntax problem.
    public var isValueError: Bool { isFloat || isOutOfRange }

    public var description: String { "\(message) at byte \(offset)" + (path.isEmpty ? "" : " (\(path))") }
}

/// A strict JSON parser: RFC 8259 syntax, valid UTF-8, no duplicate keys, integers that fit in
/// 64 bits, no fractions or exponents, bounded nesting.
public struct JSONParser {
    public static let maxDepth = 32

    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    /// The path of an error is built as it propagates out of the values it is in (each object or
    /// array puts its key or index in front), so parsing valid JSON pays nothing for it.
    private static func inside(_ component: String, _ error: JSONSyntaxError) -> JSONSyntaxError {
        var error = error
        error.path = component + (error.path.isEmpty || error.path.hasPrefix("[") ? error.path : "." + error.path)
        return error
    }

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSON {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        if parser.index != bytes.count { throw parser.error("unexpected data after the JSON value") }
        return value
    }

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSON {
        try parse(Array(text.utf8))
    }

    private func error(_ message: String, float: Bool = false, outOfRange: Bool = false) -> JSONSyntaxError {
        JSONSyntaxError(message: message, offset: index, isFloat: float, isOutOfRange: outOfRange)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws(JSONSyntaxError) -> JSON {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: String) throws(JSONSyntaxError) {
        let expected = Array(literal.utf8)
        guard index + expected.count <= bytes.count else { throw error("unexpected end of input") }
        guard bytes[index..<(index + expected.count)].elementsEqual(expected) else { throw error("invalid literal") }
        index += expected.count
    }

    private mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        if depth > Self.maxDepth { throw error("nesting deeper than \(Self.maxDepth) levels") }
    }

    private mutating func parseObject() throws(JSONSyntaxError) -> JSON {
        try enter()
        index += 1
        var members: [String: JSON] = [:]
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw error("expected a string key")
            }
            let keyOffset = index
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            let value: JSON
            do { value = try parseValue() } catch { throw Self.inside(key, error) }
            if members.updateValue(value, forKey: key) != nil {
                throw JSONSyntaxError(message: "duplicate key \"\(key)\"", offset: keyOffset, isFloat: false)
            }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; break }
            throw error("expected ',' or '}'")
        }
        depth -= 1
        return .object(members)
    }

    private mutating func parseArray() throws(JSONSyntaxError) -> JSON {
        try enter()
        index += 1
        var elements: [JSON] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            do { elements.append(try parseValue()) } catch { throw Self.inside("[\(elements.count)]", error) }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; break }
            throw error("expected ',' or ']'")
        }
        depth -= 1
        return .array(elements)
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSON {
        let start = index
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
        if bytes[index] == UInt8(ascii: "0"), index + 1 < bytes.count, isDigit(bytes[index + 1]) {
            throw error("leading zeros are not allowed")
        }
        // Accumulate as a negative number so that Int64.min is representable.
        var value: Int64 = 0
        var overflow = false
        while index < bytes.count, isDigit(bytes[index]) {
            let digit = Int64(bytes[index] - UInt8(ascii: "0"))
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.subtractingReportingOverflow(digit)
            if o1 || o2 { overflow = true } else { value = s }
            index += 1
        }
        if index < bytes.count,
            bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")
        {
            index = start
            throw error(
                "floating-point numbers are not allowed (amounts are integer minor units, time is integer minutes)",
                float: true)
        }
        if overflow || (!negative && value == Int64.min) {
            index = start
            throw error("integer out of range (at most 19 digits)", outOfRange: true)
        }
        if negative { return .int(value) }
        return .int(-value)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        index += 1  // opening quote
        // Fast path: a string without escapes becomes one String straight from its bytes.
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: bytes[start..<(index - 1)], as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            if byte < 0x80 { index += 1 } else { try skipUTF8Sequence() }
        }
        index = start
        var scalars = String.UnicodeScalarView()
        var runStart = index
        var plain: [UInt8] = []
        func flush(_ plain: inout [UInt8], into scalars: inout String.UnicodeScalarView) {
            if !plain.isEmpty {
                scalars.append(contentsOf: String(decoding: plain, as: UTF8.self).unicodeScalars)
                plain.removeAll(keepingCapacity: true)
            }
        }
        while true {
            guard index < bytes.count else { throw error("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                plain.append(contentsOf: bytes[runStart..<index])
                index += 1
                flush(&plain, into: &scalars)
                return String(scalars)
            }
            if byte < 0x20 { throw error("control character in string") }
            if byte == UInt8(ascii: "\\") {
                plain.append(contentsOf: bytes[runStart..<index])
                flush(&plain, into: &scalars)
                index += 1
                guard index < bytes.count else { throw error("unterminated escape") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    let high = try parseHex4()
                    if (0xD800...0xDBFF).contains(high) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw error("unpaired surrogate in string") }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate in string") }
                        let combined = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                        scalars.append(Unicode.Scalar(combined)!)
                    } else if (0xDC00...0xDFFF).contains(high) {
                        throw error("unpaired surrogate in string")
                    } else {
                        scalars.append(Unicode.Scalar(high)!)
                    }
                default:
                    throw error("invalid escape")
                }
                runStart = index
                continue
            }
            if byte < 0x80 {
                index += 1
                continue
            }
            // Validate one multi-byte UTF-8 sequence.
            try skipUTF8Sequence()
        }
    }

    private mutating func skipUTF8Sequence() throws(JSONSyntaxError) {
        let b0 = bytes[index]
        let length: Int
        var minimum: UInt32
        var scalar: UInt32
        switch b0 {
        case 0xC2...0xDF: length = 2; scalar = UInt32(b0 & 0x1F); minimum = 0x80
        case 0xE0...0xEF: length = 3; scalar = UInt32(b0 & 0x0F); minimum = 0x800
        case 0xF0...0xF4: length = 4; scalar = UInt32(b0 & 0x07); minimum = 0x10000
        default: throw error("invalid UTF-8")
        }
        guard index + length <= bytes.count else { throw error("invalid UTF-8") }
        for offset in 1..<length {
            let b = bytes[index + offset]
            guard b & 0xC0 == 0x80 else { throw error("invalid UTF-8") }
            scalar = (scalar << 6) | UInt32(b & 0x3F)
        }
        guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else {
            throw error("invalid UTF-8")
        }
        index += length
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw error("invalid \\u escape")
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }
}
