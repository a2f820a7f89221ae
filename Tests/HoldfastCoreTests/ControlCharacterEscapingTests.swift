import HoldfastCore
import NIOHTTP1
import Testing

@Suite("Text the peer chose is printed with its control characters escaped")
struct ControlCharacterEscapingTests {
    @Test("C0, DEL, C1 and bidirectional controls become \\u{…}; other text, emoji and accents stay")
    func escaping() {
        #expect("plain reason, ñ ✓ 🚀".escapingControlCharacters == "plain reason, ñ ✓ 🚀")
        #expect("red\u{1B}[31m!\r\n\u{07}".escapingControlCharacters == "red\\u{1B}[31m!\\u{D}\\u{A}\\u{7}")
        #expect("a\u{7F}b\u{9B}c".escapingControlCharacters == "a\\u{7F}b\\u{9B}c")
        #expect("txt.\u{202E}exe\u{2066}".escapingControlCharacters == "txt.\\u{202E}exe\\u{2066}")
    }

    @Test("close frames and outcomes print the peer's reason escaped; the reason itself is unchanged")
    func closeDescriptions() {
        let frame = CloseFrame(code: .goingAway, reason: "bye\u{1B}[2J")
        #expect(frame.reason == "bye\u{1B}[2J")
        #expect("\(frame)" == "1001 goingAway: bye\\u{1B}[2J")
        let outcome = CloseOutcome(sent: CloseFrame(code: .goingAway), received: frame)
        #expect("\(outcome)" == "1001 goingAway: bye\\u{1B}[2J")
    }

    @Test("a refused handshake prints the server's reason and phrase escaped")
    func handshakeError() {
        let error = HandshakeError(status: .custom(code: 403, reasonPhrase: "No\u{1B}]0;pwned\u{07}"), reason: "x\ry")
        #expect("\(error)" == "WebSocket handshake failed: x\\u{D}y (HTTP 403 No\\u{1B}]0;pwned\\u{7})")
    }
}
