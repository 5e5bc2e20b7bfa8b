@testable import LedgerCore
import Testing

@Suite("JSON parser")
struct JSONParserTests {
    private func parse(_ text: String) throws(JSONSyntaxError) -> JSON { try JSONParser.parse(text) }

    /// The error for bytes that must be rejected.
    private func rejection(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> JSONSyntaxError? {
        let error = caughtSyntax { () throws(JSONSyntaxError) in try JSONParser.parse(bytes) }
        #expect(error != nil, "expected \(bytes) to be rejected", sourceLocation: sourceLocation)
        return error
    }

    private func rejection(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> JSONSyntaxError? {
        rejection(Array(text.utf8), sourceLocation: sourceLocation)
    }

    // MARK: Valid input

    @Test func parsesObjectsArraysAndLiterals() throws {
        let value = try parse(#"{"a":1,"b":[true,false,null],"c":"x","d":{},"e":[],"f":-42}"#)
        #expect(
            value
                == .object([
                    "a": .int(1), "b": .array([.bool(true), .bool(false), .null]), "c": .string("x"), "d": .object([:]),
                    "e": .array([]), "f": .int(-42),
                ]))
    }

    @Test func acceptsInsignificantWhitespaceEverywhere() throws {
        let value = try parse(" \t\r\n{ \"a\" :\n[ 1 ,\t2 ] , \"b\" : { } }\n ")
        #expect(value == .object(["a": .array([.int(1), .int(2)]), "b": .object([:])]))
    }

    @Test func scalarsAtTopLevel() throws {
        #expect(try parse("0") == .int(0))
        #expect(try parse("-0") == .int(0))
        #expect(try parse("true") == .bool(true))
        #expect(try parse("null") == .null)
        #expect(try parse(#""""#) == .string(""))
    }

    @Test func arrayOrderIsKept() throws {
        #expect(try parse("[3,1,2]") == .array([.int(3), .int(1), .int(2)]))
    }

    @Test func simpleEscapes() throws {
        #expect(try parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
    }

    @Test func unicodeEscapes() throws {
        #expect(try parse(#""\u0041\u00e9\u20AC""#) == .string("Aé€"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try parse(#""a\u001fb""#) == .string("a\u{1F}b"))
    }

    @Test func surrogatePairsCombineIntoOneScalar() throws {
        let lower = try parse(#""\ud83d\ude00""#)
        let upper = try parse(#""\uD83D\uDE00""#)
        #expect(lower == .string("😀"))
        #expect(upper == .string("😀"))
        guard case .string(let s) = lower else { Issue.record("not a string"); return }
        #expect(s.unicodeScalars.map(\.value) == [0x1F600])
        // The largest code point, U+10FFFF.
        #expect(try parse(#""\udbff\udfff""#) == .string("\u{10FFFF}"))
    }

    @Test func rawMultiByteUTF8IsKeptAsIs() throws {
        // 2-, 3- and 4-byte sequences, and a combining sequence that must not be normalised.
        let value = try parse("\"é€😀A\u{030A}\"")
        guard case .string(let s) = value else { Issue.record("not a string"); return }
        #expect(Array(s.utf8) == Array("é€😀A\u{030A}".utf8))
        #expect(s.unicodeScalars.map(\.value) == [0xE9, 0x20AC, 0x1F600, 0x41, 0x30A])
    }

    @Test func deleteCharacterIsNotAControlCharacter() throws {
        #expect(try JSONParser.parse([0x22, 0x7F, 0x22]) == .string("\u{7F}"))
    }

    @Test func textAndBytesEntryPointsAgree() throws {
        let text = #"{"k":["v",1,null]}"#
        #expect(try JSONParser.parse(text) == JSONParser.parse(Array(text.utf8)))
    }

    @Test func typeNames() throws {
        #expect(JSON.null.typeName == "null")
        #expect(JSON.bool(true).typeName == "boolean")
        #expect(JSON.int(1).typeName == "integer")
        #expect(JSON.string("").typeName == "string")
        #expect(JSON.array([]).typeName == "array")
        #expect(JSON.object([:]).typeName == "object")
    }

    // MARK: Numbers

    @Test func int64BoundsAreAccepted() throws {
        #expect(try parse("9223372036854775807") == .int(Int64.max))
        #expect(try parse("-9223372036854775808") == .int(Int64.min))
        #expect(try parse("[9223372036854775807,-9223372036854775808]") == .array([.int(.max), .int(.min)]))
    }

    @Test(arguments: [
        "9223372036854775808", "-9223372036854775809", "18446744073709551616", "99999999999999999999999",
        "-99999999999999999999999", "[1,9223372036854775808]",
    ])
    func integersBeyondInt64AreRejected(_ text: String) {
        let error = rejection(text)
        #expect(error?.isFloat == false)
    }

    @Test(arguments: ["1.5", "1.0", "-0.0", "0.1", "1e5", "1E5", "1e+5", "1e-3", "-2E-2", "[1.25]", #"{"a":2.5}"#, "12.", "3e"])
    func floatsAndExponentsAreFlaggedAsFloats(_ text: String) {
        let error = rejection(text)
        #expect(error?.isFloat == true, "\(text) should be reported as a float")
    }

    @Test func floatErrorPointsAtTheNumber() {
        let error = rejection(#"{"a":2.5}"#)
        #expect(error?.offset == 5)
        #expect(error?.isFloat == true)
    }

    @Test(arguments: ["01", "00", "-01", "007", "[0123]", #"{"a":01}"#])
    func leadingZerosAreRejected(_ text: String) {
        let error = rejection(text)
        #expect(error?.isFloat == false)
    }

    @Test(arguments: ["-", "+1", ".5", "- 1", "--1", "0x10", "NaN", "Infinity", "-Infinity"])
    func malformedNumbersAreRejected(_ text: String) {
        let error = rejection(text)
        #expect(error?.isFloat == false)
    }

    // MARK: Objects

    @Test(arguments: [
        #"{"a":1,"a":2}"#, #"{"a":1,"a":1}"#, #"{"a":1,"\u0061":2}"#, #"{"x":{"b":1,"b":null}}"#,
        #"[{"k":true,"j":0,"k":false}]"#,
    ])
    func duplicateKeysAreRejected(_ text: String) {
        let error = rejection(text)
        #expect(error?.message.contains("duplicate") == true)
        #expect(error?.isFloat == false)
    }

    @Test func keysDifferingOnlyInCaseAreDistinct() throws {
        #expect(try parse(#"{"a":1,"A":2}"#) == .object(["a": .int(1), "A": .int(2)]))
    }

    @Test(arguments: [
        "[1,]", #"{"a":1,}"#, "{'a':1}", "{a:1}", #"{"a" 1}"#, #"{"a":1 "b":2}"#, "[1 2]", "{1:2}", "// c\n1",
        "/* c */ 1", "[,1]", "{,}", "True", "nul", "undefined",
    ])
    func syntaxErrorsAreRejected(_ text: String) {
        _ = rejection(text)
    }

    // MARK: Depth

    @Test func nestingUpToMaxDepthIsAccepted() throws {
        let depth = JSONParser.maxDepth
        let arrays = String.repeating("[", depth) + String.repeating("]", depth)
        #expect(throws: Never.self) { try JSONParser.parse(arrays) }
        let objects = String.repeating("{", 1) + String(repeating: #""a":{"#, count: depth - 1)
            + String.repeating("}", depth)
        #expect(throws: Never.self) { try JSONParser.parse(objects) }
    }

    @Test func nestingDeeperThanMaxDepthIsRejected() {
        let depth = JSONParser.maxDepth + 1
        _ = rejection(String.repeating("[", depth) + String.repeating("]", depth))
        _ = rejection("{" + String(repeating: #""a":{"#, count: depth - 1) + String.repeating("}", depth))
        // Mixed arrays and objects count the same.
        var mixed = ""
        for i in 0..<depth { mixed += i % 2 == 0 ? "[" : #"{"a":"# }
        for i in (0..<depth).reversed() { mixed += i % 2 == 0 ? "]" : "}" }
        _ = rejection(mixed)
        // A very deep document fails cleanly instead of exhausting the stack.
        _ = rejection(String.repeating("[", 100_000))
    }

    @Test func siblingsDoNotAddDepth() throws {
        // maxDepth levels, then many siblings at the deepest level: depth is about nesting only.
        let inner = "[" + Array(repeating: "[]", count: 50).joined(separator: ",") + "]"
        let text = String.repeating("[", JSONParser.maxDepth - 2) + inner + String.repeating("]", JSONParser.maxDepth - 2)
        #expect(throws: Never.self) { try JSONParser.parse(text) }
    }

    // MARK: Strings and UTF-8

    /// Invalid UTF-8 inside a string (each case is wrapped in quotes).
    @Test(arguments: [
        [0xC0, 0xAF],  // overlong '/'
        [0xC1, 0xBF],  // overlong 2-byte
        [0xE0, 0x80, 0xAF],  // overlong 3-byte
        [0xE0, 0x9F, 0xBF],  // overlong 3-byte (U+07FF)
        [0xF0, 0x80, 0x80, 0xAF],  // overlong 4-byte
        [0xF0, 0x8F, 0xBF, 0xBF],  // overlong 4-byte (U+FFFF)
        [0xED, 0xA0, 0x80],  // U+D800, a surrogate code point
        [0xED, 0xBF, 0xBF],  // U+DFFF
        [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80],  // CESU-8 encoded surrogate pair
        [0xF4, 0x90, 0x80, 0x80],  // U+110000, beyond Unicode
        [0xF5, 0x80, 0x80, 0x80],
        [0xF8, 0x88, 0x80, 0x80, 0x80],  // 5-byte form
        [0xFF], [0xFE],
        [0x80],  // lone continuation byte
        [0xBF],
        [0xE2, 0x82],  // truncated € (E2 82 AC)
        [0xF0, 0x9F, 0x98],  // truncated 😀
        [0xC3],  // truncated é
        [0xE2, 0x28, 0xA1],  // bad continuation
        [0xC3, 0x41],
    ] as [[UInt8]])
    func invalidUTF8IsRejected(_ sequence: [UInt8]) {
        let error = rejection([0x22] + sequence + [0x22])
        #expect(error?.isFloat == false)
    }

    @Test func truncatedSequenceAtEndOfInputIsRejected() {
        _ = rejection([0x22, 0xE2, 0x82])
        _ = rejection([0x22, 0xF0, 0x9F])
        _ = rejection([0x22, 0xC3])
    }

    @Test func validUTF8BoundariesAreAccepted() throws {
        let cases: [([UInt8], UInt32)] = [
            ([0xC2, 0x80], 0x80), ([0xDF, 0xBF], 0x7FF), ([0xE0, 0xA0, 0x80], 0x800), ([0xED, 0x9F, 0xBF], 0xD7FF),
            ([0xEE, 0x80, 0x80], 0xE000), ([0xEF, 0xBF, 0xBF], 0xFFFF), ([0xF0, 0x90, 0x80, 0x80], 0x10000),
            ([0xF4, 0x8F, 0xBF, 0xBF], 0x10FFFF),
        ]
        for (bytes, scalar) in cases {
            let value = try JSONParser.parse([0x22] + bytes + [0x22])
            #expect(value == .string(String(Character(Unicode.Scalar(scalar)!))), "U+\(String(scalar, radix: 16))")
        }
    }

    @Test func nonASCIIOutsideStringsIsRejected() {
        _ = rejection([0xC3, 0xA9])
        _ = rejection([0xEF, 0xBB, 0xBF] + Array("{}".utf8))  // byte order mark
    }

    @Test(arguments: Array(UInt8(0x00)...UInt8(0x1F)))
    func rawControlCharactersInStringsAreRejected(_ byte: UInt8) {
        let error = rejection([0x22, 0x61, byte, 0x62, 0x22])
        #expect(error?.offset == 2)
    }

    @Test func controlCharacterInKeyIsRejected() {
        _ = rejection([0x7B, 0x22, 0x0A, 0x22, 0x3A, 0x31, 0x7D])  // {"\n":1} with a raw newline
    }

    @Test(arguments: [
        #""\x""#, #""\u12G4""#, #""\u12""#, #""\u""#, #""\'""#, #""\a""#, #""\U0041""#, #""\0""#,
    ])
    func invalidEscapesAreRejected(_ text: String) {
        _ = rejection(text)
    }

    @Test(arguments: [
        #""\ud83d""#,  // lone high surrogate
        #""\ud83dx""#,
        #""\ud83d\u0041""#,  // high followed by a non-surrogate
        #""\ud83d\ud83d""#,  // high followed by high
        #""\ude00""#,  // lone low surrogate
        #""\ude00\ud83d""#,  // reversed pair
        #""\ud83d\n""#,
    ])
    func unpairedSurrogateEscapesAreRejected(_ text: String) {
        _ = rejection(text)
    }

    // MARK: Framing

    @Test(arguments: [("[1] x", 4), ("{}{}", 2), ("1 2", 2), ("[1]]", 3), (#""a""b""#, 3), ("null,", 4)])
    func trailingDataIsRejected(_ text: String, offset: Int) {
        let error = rejection(text)
        #expect(error?.offset == offset)
    }

    @Test(arguments: [
        "", "   ", "{", "[", "[1", "[1,", #"{"a""#, #"{"a":"#, #"{"a":1"#, #"{"a":1,"#, #""abc"#, #""\"#, #""\u00"#,
        "tru", "fals", "n", "-",
    ])
    func unterminatedInputIsRejected(_ text: String) {
        let error = rejection(text)
        #expect(error?.isFloat == false)
    }

    @Test func errorDescriptionNamesTheOffset() {
        let error = rejection("[1] x")
        #expect(error?.description.contains("at byte 4") == true)
    }

    @Test(arguments: [
        (#"{"a":[1,{"b":1.5}]}"#, "a[1].b"),
        (#"[{"x":{"y":"\q"}}]"#, "[0].x.y"),
        (#"{"data":{"minutes":99999999999999999999}}"#, "data.minutes"),
        (#"{"a":{"b":1,"b":2}}"#, "a"),
        (#"[[1,[2,tru]]]"#, "[0][1][1]"),
        (#"{"top":1.0}"#, "top"),
        ("1.5", ""),
    ])
    func errorPathNamesWhereTheBadValueIs(text: String, path: String) {
        #expect(rejection(text)?.path == path)
    }
}
