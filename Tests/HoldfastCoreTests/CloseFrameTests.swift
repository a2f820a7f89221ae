import HoldfastCore
import NIOCore
import Testing

private func body(_ code: UInt16, _ reason: [UInt8] = []) -> ByteBuffer {
    ByteBuffer(bytes: [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
}

@Suite("CloseFrame — RFC 6455 §5.5.1 close frame body")
struct CloseFrameParsingTests {
    @Test("an empty body has no code and reports 1005")
    func emptyBody() throws {
        let frame = try CloseFrame(parsing: ByteBuffer())
        #expect(frame.code == nil)
        #expect(frame.reason == "")
        #expect(frame.effectiveCode == .noStatusReceived)
        #expect(frame.effectiveCode.rawValue == 1005)
    }

    @Test("a 1-byte body is a protocol error")
    func oneByteBody() {
        #expect(throws: WebSocketProtocolError(code: .protocolError, reason: "close frame with a 1-byte body")) {
            try CloseFrame(parsing: ByteBuffer(bytes: [0x03]))
        }
    }

    @Test("§7.4: a code that may not be sent is a protocol error",
          arguments: [UInt16(0), 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
    func invalidCode(code: UInt16) {
        #expect(throws: WebSocketProtocolError(code: .protocolError, reason: "invalid close code \(code)")) {
            try CloseFrame(parsing: body(code, Array("why".utf8)))
        }
    }

    @Test("a reason that is not UTF-8 is invalid payload data (1007)",
          arguments: [[UInt8(0xFF)], [0xC3], [0xED, 0xA0, 0x80], [0x61, 0xC0, 0x80], [0xF4, 0x90, 0x80, 0x80]])
    func invalidReason(reason: [UInt8]) {
        #expect(throws: WebSocketProtocolError(code: .invalidFramePayloadData,
                                               reason: "close reason is not valid UTF-8")) {
            try CloseFrame(parsing: body(1000, reason))
        }
    }

    @Test("valid bodies give their code and reason",
          arguments: [UInt16(1000), 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
                      4000, 4999])
    func validBody(code: UInt16) throws {
        let bare = try CloseFrame(parsing: body(code))
        #expect(bare.code == CloseCode(code))
        #expect(bare.reason == "")
        #expect(bare.effectiveCode == CloseCode(code))
        let withReason = try CloseFrame(parsing: body(code, Array("bye — ciao 👋".utf8)))
        #expect(withReason.code == CloseCode(code))
        #expect(withReason.reason == "bye — ciao 👋")
    }

    @Test("parsing reads the buffer's readable bytes only")
    func readableBytesOnly() throws {
        var buffer = ByteBuffer(bytes: [0xFF, 0xFF, 0x03, 0xE9] + Array("away".utf8))
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(try CloseFrame(parsing: buffer) == CloseFrame(code: .goingAway, reason: "away"))
    }
}

@Suite("CloseFrame — reason truncation and encoding")
struct CloseFrameEncodingTests {
    @Test("a reason within 123 bytes is kept")
    func shortReasonKept() {
        let reason = String(repeating: "a", count: 123)
        #expect(CloseFrame(code: .normalClosure, reason: reason).reason == reason)
        #expect(CloseFrame.truncatedReason("") == "")
    }

    @Test("a reason over 123 bytes is cut on a UTF-8 boundary",
          arguments: [
              // (prefix of ASCII, the character that follows, expected byte length)
              (124, "", 123),  // plain ASCII
              (122, "é", 122),  // 2-byte character at 122...123: cut before it
              (121, "é", 123),  // ends exactly at 123
              (121, "€", 121),  // 3-byte character at 121...123
              (120, "€", 123),
              (122, "€", 122),  // 3-byte character at 122...124
              (120, "𝄞", 120),  // 4-byte character at 120...123
              (119, "𝄞", 123),
              (122, "𝄞", 122),  // 4-byte character starting at the last byte
              (123, "𝄞", 123),  // 4-byte character starting just after the cut
          ])
    func truncation(asciiCount: Int, character: String, expectedLength: Int) {
        let reason = String(repeating: "a", count: asciiCount) + character + "tail"
        let truncated = CloseFrame(code: .goingAway, reason: reason).reason
        #expect(truncated.utf8.count == expectedLength)
        #expect(reason.utf8.starts(with: truncated.utf8))
        #expect(CloseFrame.truncatedReason(reason) == truncated)
    }

    @Test("a reason of multi-byte characters only is cut to whole characters")
    func multiByteOnly() {
        let truncated = CloseFrame.truncatedReason(String(repeating: "é", count: 100))
        #expect(truncated == String(repeating: "é", count: 61))
        let emoji = CloseFrame.truncatedReason(String(repeating: "👋", count: 40))
        #expect(emoji == String(repeating: "👋", count: 30))
        let mixed = String(repeating: "a€", count: 40)  // 4 bytes per pair
        #expect(CloseFrame.truncatedReason(mixed) == String(repeating: "a€", count: 30) + "a")
    }

    @Test("a close frame without a code has no reason")
    func noCodeNoReason() {
        let frame = CloseFrame(code: nil, reason: "ignored")
        #expect(frame.reason == "")
        #expect(frame.encoded() == ByteBuffer())
    }

    @Test("encoding writes the code in network order, then the reason")
    func encoding() {
        #expect(Array(CloseFrame(code: .normalClosure).encoded().readableBytesView) == [0x03, 0xE8])
        #expect(Array(CloseFrame(code: .goingAway, reason: "bye").encoded().readableBytesView)
                == [0x03, 0xE9, 0x62, 0x79, 0x65])
        #expect(Array(CloseFrame(code: CloseCode(4321), reason: "é").encoded().readableBytesView)
                == [0x10, 0xE1, 0xC3, 0xA9])
        var buffer = ByteBuffer(bytes: [0xAA])
        CloseFrame(code: .messageTooBig, reason: "x").encode(into: &buffer)
        #expect(Array(buffer.readableBytesView) == [0xAA, 0x03, 0xF1, 0x78])
        var untouched = ByteBuffer(bytes: [0xAA])
        CloseFrame(code: nil).encode(into: &untouched)
        #expect(Array(untouched.readableBytesView) == [0xAA])
    }

    @Test("a truncated close frame fits a control frame and parses back to itself")
    func roundTrip() throws {
        let frame = CloseFrame(code: .policyViolation, reason: String(repeating: "ö", count: 200))
        let encoded = frame.encoded()
        #expect(encoded.readableBytes <= 125)
        #expect(try CloseFrame(parsing: encoded) == frame)
    }

    @Test("description shows the effective code and the reason")
    func description() {
        #expect(CloseFrame(code: nil).description == "1005 noStatusReceived")
        #expect(CloseFrame(code: .goingAway, reason: "restart").description == "1001 goingAway: restart")
    }
}
