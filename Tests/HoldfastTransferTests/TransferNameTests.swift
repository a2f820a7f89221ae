import HoldfastCore
import HoldfastTransfer
import Testing

@Suite("TransferName — a name a receiver can write under its directory without escaping it")
struct TransferNameTests {
    @Test("plain file names pass unchanged", arguments: ["report.pdf", "a", "dots...", "名前.txt", "with space.txt", "v1.2.tar.gz", "ñandú 🚀.png"])
    func plainNames(name: String) throws {
        #expect(try TransferName.validated(name) == name)
    }

    @Test("paths, dot names, control, bidirectional and invisible characters, empty names: refused with the reason",
          arguments: [
            ("", "the name is empty"),
            (".", "not a file name"),
            ("..", "not a file name"),
            ("../etc/passwd", "a path, not a file name (no separators allowed)"),
            ("/etc/passwd", "a path, not a file name (no separators allowed)"),
            ("dir/file", "a path, not a file name (no separators allowed)"),
            ("..\\windows", "a path, not a file name (no separators allowed)"),
            ("C:autoexec.bat", "contains ':'"),
            ("bell\u{7}", "contains a control character"),
            ("line\nbreak", "contains a control character"),
            ("nul\u{0}byte", "contains a control character"),
            ("del\u{7F}", "contains a control character"),
            (" lead", "begins or ends with a space"),
            (".env", "begins with a dot (a hidden file)"),
            ("..hidden", "begins with a dot (a hidden file)"),
            ("invoice\u{202E}gpj.exe", "contains a bidirectional control character"),
            ("a\u{2066}b", "contains a bidirectional control character"),
            ("report\u{200B}.pdf", "contains an invisible character"),
            ("\u{FEFF}bom.txt", "contains an invisible character"),
            (String(repeating: "x", count: 256), "longer than 255 bytes"),
          ])
    func refused(name: String, why: String) {
        let error = #expect(throws: TransferRefusal.self) { try TransferName.validated(name) }
        #expect(error?.code == .invalidName)
        #expect(error?.reason.hasSuffix(": \(why)") == true, "\(error?.reason ?? "")")
    }

    @Test("a refused name is quoted with its control characters escaped")
    func quotedReason() {
        let error = #expect(throws: TransferRefusal.self) { try TransferName.validated("a\nb") }
        #expect(error?.reason == "invalid name 'a\\u{A}b': contains a control character")
    }

    @Test("255 bytes of UTF-8 pass; 256 do not")
    func lengthBoundary() throws {
        #expect(try TransferName.validated(String(repeating: "é", count: 127) + "x").utf8.count == 255)
        #expect(throws: TransferRefusal.self) { try TransferName.validated(String(repeating: "é", count: 128)) }
    }
}
