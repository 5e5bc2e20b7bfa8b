import LedgerCore
import LedgerProjections
import Testing

@Suite("CSV and terminal cells")
struct CSVTests {
    @Test("text that a spreadsheet would run as a formula gets a leading apostrophe; numbers stay numbers")
    func formulasAreNeutralised() {
        for formula in ["=1+2", "+1", "-cmd", "@SUM(A1)", "=HYPERLINK(\"http://x\",\"y\")"] {
            #expect(CSV.field(.string(formula)).hasPrefix("'") || CSV.field(.string(formula)).hasPrefix("\"'"), "\(formula)")
        }
        #expect(CSV.field(.string("=1,2")) == "\"'=1,2\"")
        #expect(CSV.field(.int(-500)) == "-500")
        #expect(CSV.field(.string("c-1")) == "c-1")
        #expect(CSV.field(.string("a=b")) == "a=b")
    }

    @Test("control characters (line breaks, terminal escapes) become spaces in cells and table output")
    func controlCharactersAreReplaced() {
        #expect(CSV.field(.string("a\u{1B}[31mb")) == "a [31mb")
        #expect(CSV.field(.string("a\r\nb")) == "a  b")
        #expect(CSV.printable("x\u{9B}y\u{7F}z\tw") == "x y z w")
        #expect(CSV.printable("ünï \u{1F600}") == "ünï \u{1F600}")
        // A control character before a formula does not hide it.
        #expect(CSV.field(.string("\u{7}=1")) == " =1")
    }

    @Test("terminal tables show tenant text as CSV cells do: a formula stays text, numbers stay numbers")
    func tableCellsAreSafe() {
        #expect(CSV.safe(.string("=HYPERLINK(\"x\")\u{1B}[2J")) == "'=HYPERLINK(\"x\") [2J")
        #expect(CSV.safe(.string("-5")) == "'-5")
        #expect(CSV.safe(.int(-5)) == "-5")
    }
}
