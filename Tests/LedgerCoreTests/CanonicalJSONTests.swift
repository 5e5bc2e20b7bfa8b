@testable import LedgerCore
import Testing

@Suite("Canonical JSON (RFC 8785)")
struct CanonicalJSONTests {
    private func canonical(_ text: String) throws -> String { try JSONParser.parse(text).canonicalString }

    @Test func noWhitespaceAndSortedKeys() throws {
        #expect(try canonical(" { \"b\" : [ 1 , 2 ] ,\n \"a\" : null , \"c\" : { \"y\" : true , \"x\" : false } } ")
            == #"{"a":null,"b":[1,2],"c":{"x":false,"y":true}}"#)
    }

    @Test func literalsAndIntegers() {
        #expect(JSON.null.canonicalString == "null")
        #expect(JSON.bool(true).canonicalString == "true")
        #expect(JSON.bool(false).canonicalString == "false")
        #expect(JSON.int(0).canonicalString == "0")
        #expect(JSON.int(-1).canonicalString == "-1")
        #expect(JSON.int(Int64.max).canonicalString == "9223372036854775807")
        #expect(JSON.int(Int64.min).canonicalString == "-9223372036854775808")
        #expect(JSON.array([]).canonicalString == "[]")
        #expect(JSON.object([:]).canonicalString == "{}")
    }

    @Test func canonicalBytesAndStringAgree() {
        let value = JSON.object(["é": .string("€"), "a": .array([.int(1), .null])])
        #expect(Array(value.canonicalString.utf8) == value.canonicalBytes)
        var out: [UInt8] = [0x41]
        value.write(into: &out)
        #expect(out == [0x41] + value.canonicalBytes, "write(into:) appends")
    }

    /// RFC 8785 §3.2.3: property names sorted by their UTF-16 code units. U+1F600 (surrogates D83D DE00)
    /// sorts before U+FB33 although its code point is larger, and U+0080 after "1".
    @Test func keysSortByUTF16CodeUnitsIncludingNonASCII() throws {
        let input = #"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#
        let expected =
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\u{FB33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        #expect(try canonical(input) == expected)
    }

    /// The byte-wise fast path of the key order agrees with UTF-16 order on strings mixing ASCII,
    /// 2- and 3-byte characters on both sides of U+E000, and supplementary-plane characters.
    @Test func keyOrderAgreesWithUTF16OrderOnRandomKeys() {
        let alphabet: [Unicode.Scalar] = ["a", "b", "Z", "0", "\u{7F}", "\u{80}", "\u{FF}", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{FB33}", "\u{FFFF}", "\u{10000}", "\u{1F600}", "\u{10FFFF}"]
        var rng = SeededRandom(seed: 99)
        func key() -> String {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...4, using: &rng) { s.append(alphabet.randomElement(using: &rng)!) }
            return String(s)
        }
        for _ in 0..<20_000 {
            let a = key(), b = key()
            #expect(JSON.utf16Less(a, b) == a.utf16.lexicographicallyPrecedes(b.utf16), "\(Array(a.unicodeScalars)) vs \(Array(b.unicodeScalars))")
        }
    }

    /// Objects of every size up to past the insertion sort's limit list their keys in UTF-16 order.
    @Test func objectKeysAreSortedAtEverySize() {
        var rng = SeededRandom(seed: 7)
        let alphabet: [Unicode.Scalar] = ["a", "B", "z", "_", "\u{E9}", "\u{FB33}", "\u{1F600}"]
        for size in [0, 1, 2, 3, 7, 19, 32, 33, 80] {
            var members: [String: JSON] = [:]
            while members.count < size {
                var s = String.UnicodeScalarView()
                for _ in 0..<Int.random(in: 1...5, using: &rng) { s.append(alphabet.randomElement(using: &rng)!) }
                members[String(s)] = .int(Int64(members.count))
            }
            #expect(JSON.sortedKeys(members) == members.keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }, "size \(size)")
        }
    }

    /// A fixed shape writes exactly what `.object(...).canonicalBytes` writes, whatever the keys'
    /// order and the values (escapes, nested values, pre-written values).
    @Test func canonicalShapeWritesWhatObjectsWrite() {
        let keys = ["posting_id", "\u{1F600}", "b", "a\nb", "\u{FB33}", "é", "", "B", "amount_minor"]
        let shape = CanonicalShape(keys)
        var rng = SeededRandom(seed: 3)
        let texts = ["", "plain", "quote\"and\\back", "tab\tnewline\n\u{1}", "é€\u{1F600}", "\u{2028}"]
        for _ in 0..<200 {
            let values: [JSON] = keys.map { _ in
                switch Int.random(in: 0...6, using: &rng) {
                case 0: .null
                case 1: .bool(Bool.random(using: &rng))
                case 2: .int(Int64.random(in: Int64.min...Int64.max, using: &rng))
                case 3: .string(texts.randomElement(using: &rng)!)
                case 4: .decimal(units: Int64.random(in: -99_999...99_999, using: &rng), scale: Int.random(in: 0...4, using: &rng))
                case 5: .array([.int(1), .object(["z": .null, "a": .string("x")])])
                default: .canonical(JSON.object(["k": .int(7)]).canonicalBytes)
                }
            }
            var written: [UInt8] = []
            shape.write(values, into: &written)
            #expect(written == JSON.object(Dictionary(uniqueKeysWithValues: zip(keys, values))).canonicalBytes)
        }
        var empty: [UInt8] = []
        CanonicalShape([]).write([], into: &empty)
        #expect(empty == Array("{}".utf8))
        #expect(JSON.array([.canonical(Array("{\"a\":1}".utf8)), .int(2)]).canonicalString == "[{\"a\":1},2]")
    }

    @Test func asciiKeyOrderIsByteOrder() throws {
        // Upper case before lower case, a prefix before its extensions, the empty key first.
        #expect(try canonical(#"{"b":1,"a":2,"B":3,"aa":4,"":5,"a0":6,"_":7}"#)
            == #"{"":5,"B":3,"_":7,"a":2,"a0":6,"aa":4,"b":1}"#)
    }

    /// RFC 8785 §3.2.2 "arrays" example and the "structures" example (with 56.0 written as 56,
    /// since the ledger has no floats).
    @Test func rfc8785Examples() throws {
        #expect(try canonical(#"[56, {"d": true, "10": null, "1": [ ]}]"#) == #"[56,{"1":[],"10":null,"d":true}]"#)
        let structures = #"""
            {
              "1": {"f": {"f": "hi","F": 5} ,"\n": 56},
              "10": { },
              "": "empty",
              "a": { },
              "111": [ {"e": "yes","E": "no" } ],
              "A": { }
            }
            """#
        #expect(try canonical(structures)
            == #"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}"#)
    }

    /// RFC 8785 §3.2.2.2 "unicode" example: strings are not normalised.
    @Test func unicodeIsNotNormalised() throws {
        let bytes = try JSONParser.parse(#"{"Unnormalized Unicode":"A\u030a"}"#).canonicalBytes
        #expect(bytes == Array(#"{"Unnormalized Unicode":""#.utf8) + [0x41, 0xCC, 0x8A] + Array(#""}"#.utf8))
    }

    @Test func shortEscapesForTheFiveNamedControls() {
        #expect(JSON.string("\u{08}\u{0C}\n\r\t").canonicalString == #""\b\f\n\r\t""#)
    }

    @Test func quoteAndBackslashAreEscaped() {
        #expect(JSON.string("a\"b\\c").canonicalString == #""a\"b\\c""#)
    }

    @Test(arguments: [
        (UInt8(0x00), "\\u0000"), (0x01, "\\u0001"), (0x07, "\\u0007"), (0x0B, "\\u000b"), (0x0E, "\\u000e"),
        (0x0F, "\\u000f"), (0x10, "\\u0010"), (0x1A, "\\u001a"), (0x1B, "\\u001b"), (0x1F, "\\u001f"),
    ])
    func otherControlsUseLowercaseUnicodeEscapes(_ byte: UInt8, escaped: String) {
        let s = String(Character(Unicode.Scalar(byte)))
        #expect(JSON.string(s).canonicalString == "\"\(escaped)\"")
    }

    @Test func everyControlCharacterIsEscapedAndNothingElseBelow0x80() {
        for b in UInt8(0)..<UInt8(0x80) {
            let out = JSON.string(String(Character(Unicode.Scalar(b)))).canonicalBytes
            if b < 0x20 {
                #expect(out.count == 4 || out.count == 8, "control \(b) escaped")
                #expect(out[1] == UInt8(ascii: "\\"))
            } else if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                #expect(out == [0x22, 0x5C, b, 0x22])
            } else {
                #expect(out == [0x22, b, 0x22], "byte \(b) is written literally")
            }
        }
    }

    @Test func slashDeleteAndNonASCIIAreLiteral() {
        #expect(JSON.string("a/b").canonicalString == #""a/b""#)
        #expect(JSON.string("\u{7F}").canonicalBytes == [0x22, 0x7F, 0x22])
        #expect(JSON.string("é€😀\u{2028}\u{FEFF}").canonicalBytes == [0x22] + Array("é€😀\u{2028}\u{FEFF}".utf8) + [0x22])
    }

    @Test func escapedInputIsWrittenWithMinimalEscapes() throws {
        // Needless escapes in the input disappear; needed ones use the shortest form.
        #expect(try canonical(#"["\/\u0041\u00e9\u0008\u000B\ud83d\ude00"]"#) == "[\"/Aé\\b\\u000b😀\"]")
    }

    @Test func keysAreEscapedLikeStrings() {
        #expect(JSON.object(["a\nb": .int(1), "\"": .int(2)]).canonicalString == #"{"\"":2,"a\nb":1}"#)
    }

    @Test(arguments: [
        #"{"a":1}"#, #"[1,"x",null,true,false,{},[]]"#, #"{"nested":{"deeper":[{"k":"v"},[-1,0,1]]}}"#,
        #""\u0000\u001f\b\f\n\r\t\"\\/""#, #"{"é":"€","😀":"\ud83d\ude00","\u20ac":1,"A\u030a":2}"#,
        #"[9223372036854775807,-9223372036854775808]"#, #"{"":{"":{"":""}}}"#,
        #"{"id":"0b6f2a4e-6c1d-4b7e-9a53-3f1f7b0a9c11","type":"hours_logged","posting_id":"p-1042","occurred_at":"2026-03-02T17:30:00Z","expected_version":4,"actor":"student:s-77","data":{"student_id":"s-77","minutes":90,"work_date":"2026-03-02"}}"#,
    ])
    func roundTrip(_ text: String) throws {
        let value = try JSONParser.parse(text)
        let bytes = value.canonicalBytes
        #expect(try JSONParser.parse(bytes) == value, "parse(canonical(x)) == x")
        #expect(try JSONParser.parse(bytes).canonicalBytes == bytes, "canonical form is a fixed point")
    }

    @Test func keyOrderOfInputDoesNotMatter() throws {
        let a = try JSONParser.parse(#"{"x":1,"y":{"b":2,"a":3},"z":[1,2]}"#)
        let b = try JSONParser.parse(#"{"z":[1,2],"y":{"a":3,"b":2},"x":1}"#)
        #expect(a.canonicalBytes == b.canonicalBytes)
        let c = try JSONParser.parse(#"{"z":[2,1],"y":{"a":3,"b":2},"x":1}"#)
        #expect(a.canonicalBytes != c.canonicalBytes, "array order is significant")
    }

    @Test func subscriptReadsObjectMembersOnly() {
        let value = JSON.object(["a": .int(1)])
        #expect(value["a"] == .int(1))
        #expect(value["b"] == nil)
        #expect(JSON.array([.int(1)])["a"] == nil)
        #expect(JSON.string("a")["a"] == nil)
    }
}

@Suite("Report decimals")
struct ReportDecimalTests {
    @Test(arguments: [
        (Int64(4), Int64(7), 4, "0.5714"), (17, 4, 2, "4.25"), (1, 1, 4, "1"), (0, 0, 4, "0"), (2, 3, 4, "0.6667"),
        (1, 8, 2, "0.13"), (1, 200, 2, "0.01"), (1, 201, 2, "0"),
    ])
    func ratiosRoundHalfUp(_ numerator: Int64, _ denominator: Int64, _ places: Int, _ text: String) {
        #expect(ReportMath.ratio(numerator, denominator, places: places).canonicalString == text)
    }

    @Test func negativeDecimalsKeepTheirSign() {
        #expect(JSON.decimal(units: -5, scale: 1).canonicalString == "-0.5")
        #expect(JSON.decimal(units: -1234, scale: 2).canonicalString == "-12.34")
    }
}
