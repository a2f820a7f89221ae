import HoldfastCore
import HoldfastTestSupport
import NIOCore
import Testing

/// Frames as the parser must report them, next to the bytes a peer sends for them.
private struct Fixture {
    var bytes: [UInt8] = []
    var frames: [Frame] = []
    /// Where each frame's payload lies in `bytes`.
    var payloadRanges: [Range<Int>] = []

    mutating func add(fin: Bool = true, reservedBits: UInt8 = 0, opcode: Opcode, payload: [UInt8], key: [UInt8]?) {
        bytes += WireFrame.bytes(fin: fin, reservedBits: reservedBits, opcode: opcode.rawValue, payload: payload,
                                 key: key)
        payloadRanges.append((bytes.count - payload.count)..<bytes.count)
        frames.append(Frame(fin: fin, reservedBits: ReservedBits(rawValue: reservedBits), opcode: opcode,
                            payload: ByteBuffer(bytes: payload)))
    }
}

/// Feeds `chunks` in order to `parser` and returns every frame it completes.
private func parse(_ chunks: [ArraySlice<UInt8>], with parser: inout FrameParser) throws(WebSocketProtocolError)
    -> [Frame]
{
    var frames: [Frame] = []
    for chunk in chunks {
        var buffer = ByteBuffer(bytes: chunk)
        while let frame = try parser.nextFrame(from: &buffer) {
            frames.append(frame)
        }
        // `nil` means all input was consumed.
        if buffer.readableBytes != 0 { Issue.record("nextFrame returned nil with \(buffer.readableBytes) bytes left") }
    }
    return frames
}

/// The error the parser throws for `bytes` fed in one piece, or `nil` if none.
private func parseError(_ bytes: [UInt8], role: Role, maxFrameSize: Int = 1 << 20, maxMessageSize: Int = 1 << 20,
                        allowedReservedBits: ReservedBits = []) -> WebSocketProtocolError?
{
    var parser = FrameParser(role: role, maxFrameSize: maxFrameSize, maxMessageSize: maxMessageSize)
    parser.allowedReservedBits = allowedReservedBits
    var buffer = ByteBuffer(bytes: bytes)
    do {
        while try parser.nextFrame(from: &buffer) != nil {}
        return nil
    } catch {
        return error
    }
}

private let key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]

/// A client's stream (masked) with every frame kind and all three length encodings, including a
/// 70,000-byte payload that needs the 64-bit length.
private func maskedMixedStream() -> Fixture {
    var fixture = Fixture()
    fixture.add(opcode: .text, payload: Array("Hello".utf8), key: key)
    fixture.add(opcode: .ping, payload: Array("ping!".utf8), key: [0, 0, 0, 0])
    fixture.add(fin: false, opcode: .binary, payload: WireFrame.pattern(200, seed: 1), key: [1, 2, 3, 4])
    fixture.add(opcode: .pong, payload: [], key: key)
    fixture.add(fin: false, opcode: .continuation, payload: WireFrame.pattern(70_000, seed: 2),
                key: [0xFF, 0x00, 0xAA, 0x55])
    fixture.add(opcode: .ping, payload: WireFrame.pattern(125, seed: 3), key: key)
    fixture.add(opcode: .continuation, payload: [9, 8, 7], key: key)
    fixture.add(fin: false, opcode: .text, payload: Array("frag".utf8), key: key)
    fixture.add(opcode: .continuation, payload: [], key: key)
    fixture.add(opcode: .binary, payload: [], key: key)
    fixture.add(opcode: .binary, payload: WireFrame.pattern(126, seed: 5), key: key)
    fixture.add(opcode: .connectionClose, payload: [0x03, 0xE8] + Array("bye".utf8), key: key)
    return fixture
}

/// A server's stream (unmasked), shorter so that every split point stays fast.
private func unmaskedMixedStream() -> Fixture {
    var fixture = Fixture()
    fixture.add(opcode: .text, payload: Array("Hi".utf8), key: nil)
    fixture.add(fin: false, opcode: .binary, payload: WireFrame.pattern(300, seed: 6), key: nil)
    fixture.add(opcode: .ping, payload: [1], key: nil)
    fixture.add(fin: false, opcode: .continuation, payload: WireFrame.pattern(65_536, seed: 7), key: nil)
    fixture.add(opcode: .continuation, payload: [], key: nil)
    fixture.add(opcode: .pong, payload: Array("pong".utf8), key: nil)
    fixture.add(opcode: .text, payload: [], key: nil)
    fixture.add(opcode: .connectionClose, payload: [0x03, 0xE9], key: nil)
    return fixture
}

@Suite("FrameParser — RFC 6455 §5.2 base framing")
struct FrameParserFramingTests {
    @Test("a masked stream parses the same whole and byte by byte")
    func maskedStreamWholeAndBytewise() throws {
        let fixture = maskedMixedStream()
        let bytes = fixture.bytes
        #expect(bytes.count > 70_000)

        var whole = FrameParser(role: .server, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
        #expect(try parse([bytes[...]], with: &whole) == fixture.frames)

        var bytewise = FrameParser(role: .server, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
        #expect(try parse(bytes.indices.map { bytes[$0...$0] }, with: &bytewise) == fixture.frames)
    }

    /// Split points of the masked stream: every one outside the 70,000-byte payload (all headers,
    /// masking keys, small payloads and frame boundaries) and every 61st inside it — a stride
    /// coprime to 4 that meets every masking phase, since each point inside one payload takes the
    /// same path. (Every point of that payload would unmask 4.9 GB, which in a debug build keeps
    /// both cores busy for a minute and starves the rest of the suite.) The unmasked stream below,
    /// with all three length encodings, is checked at every single split point.
    @Test("a masked stream parses the same at every header and boundary split point")
    func maskedStreamSplitPoints() throws {
        let fixture = maskedMixedStream()
        let bytes = fixture.bytes
        let largePayload = try #require(fixture.payloadRanges.first { $0.count == 70_000 })
        var failedSplits: [Int] = []
        var split = 0
        while split <= bytes.count {
            var parser = FrameParser(role: .server, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
            let frames = try parse([bytes[..<split], bytes[split...]], with: &parser)
            if frames != fixture.frames { failedSplits.append(split) }
            let insideLargePayload = largePayload.contains(split) && split + 61 < largePayload.upperBound
            split += insideLargePayload ? 61 : 1
        }
        #expect(failedSplits.isEmpty)
    }

    @Test("an unmasked stream parses the same whole, at every split point and byte by byte")
    func unmaskedStreamEverySplitPoint() throws {
        let fixture = unmaskedMixedStream()
        let bytes = fixture.bytes

        var whole = FrameParser(role: .client, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
        #expect(try parse([bytes[...]], with: &whole) == fixture.frames)

        var failedSplits: [Int] = []
        for split in 0...bytes.count {
            var parser = FrameParser(role: .client, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
            let frames = try parse([bytes[..<split], bytes[split...]], with: &parser)
            if frames != fixture.frames { failedSplits.append(split) }
        }
        #expect(failedSplits.isEmpty)

        var bytewise = FrameParser(role: .client, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
        #expect(try parse(bytes.indices.map { bytes[$0...$0] }, with: &bytewise) == fixture.frames)
    }

    @Test("a stream cut into random pieces, some empty, parses the same")
    func randomPieces() throws {
        let fixture = maskedMixedStream()
        let bytes = fixture.bytes
        var random = SeededRandomNumberGenerator(seed: 0x5EED)
        for _ in 0..<20 {
            var chunks: [ArraySlice<UInt8>] = []
            var start = 0
            while start < bytes.count {
                let length = Int.random(in: 0...20_000, using: &random)
                let end = min(bytes.count, start + length)
                chunks.append(bytes[start..<end])
                start = end
            }
            var parser = FrameParser(role: .server, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
            #expect(try parse(chunks, with: &parser) == fixture.frames)
        }
    }

    @Test("the first header byte: FIN, RSV and opcode are reported as sent")
    func firstByte() throws {
        var fixture = Fixture()
        fixture.add(fin: false, reservedBits: 0x40, opcode: .text, payload: [0x41], key: nil)
        fixture.add(fin: true, reservedBits: 0x40, opcode: .continuation, payload: [0x42], key: nil)
        var parser = FrameParser(role: .client, maxFrameSize: 100, maxMessageSize: 100)
        parser.allowedReservedBits = .rsv1
        let frames = try parse([fixture.bytes[...]], with: &parser)
        #expect(frames == fixture.frames)
        #expect(frames.first?.reservedBits == .rsv1)
        #expect(frames.first?.fin == false)
    }

    @Test("payloadInProgress shows the opcode and the bytes received of an incomplete frame")
    func payloadInProgress() throws {
        let bytes = WireFrame.bytes(opcode: Opcode.text.rawValue, payload: Array("abcdef".utf8), key: key)
        var parser = FrameParser(role: .server, maxFrameSize: 100, maxMessageSize: 100)
        #expect(parser.payloadInProgress == nil)
        var head = ByteBuffer(bytes: bytes[..<9])  // 2 + 4 key bytes + "abc"
        #expect(try parser.nextFrame(from: &head) == nil)
        let progress = try #require(parser.payloadInProgress)
        #expect(progress.opcode == .text)
        #expect(progress.received == ByteBuffer(string: "abc"))
        var tail = ByteBuffer(bytes: bytes[9...])
        #expect(try parser.nextFrame(from: &tail) == Frame(opcode: .text, payload: ByteBuffer(string: "abcdef")))
        #expect(parser.payloadInProgress == nil)
    }

    @Test("nextFrame leaves the bytes after a frame in the input")
    func leavesFollowingBytes() throws {
        let first = WireFrame.bytes(opcode: Opcode.binary.rawValue, payload: [1, 2, 3], key: nil)
        let second = WireFrame.bytes(opcode: Opcode.binary.rawValue, payload: [4], key: nil)
        var parser = FrameParser(role: .client, maxFrameSize: 100, maxMessageSize: 100)
        var buffer = ByteBuffer(bytes: first + second)
        #expect(try parser.nextFrame(from: &buffer) == Frame(opcode: .binary, payload: ByteBuffer(bytes: [1, 2, 3])))
        #expect(Array(buffer.readableBytesView) == second)
    }
}

@Suite("FrameParser — RFC 6455 §5.1, §5.2, §5.5 protocol errors (1002)")
struct FrameParserProtocolErrorTests {
    @Test("a reserved opcode is a protocol error", arguments: [UInt8(3), 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
    func reservedOpcode(opcode: UInt8) {
        let bytes = WireFrame.bytes(opcode: opcode, payload: [], key: key)
        #expect(parseError(bytes, role: .server)
                == WebSocketProtocolError(code: .protocolError, reason: "reserved opcode \(opcode)"))
    }

    @Test("a reserved bit without a negotiated extension is a protocol error", arguments: [UInt8(0x40), 0x20, 0x10, 0x70])
    func reservedBits(bits: UInt8) {
        let bytes = WireFrame.bytes(reservedBits: bits, opcode: Opcode.text.rawValue, payload: [0x41], key: key)
        let expected = WebSocketProtocolError(code: .protocolError,
                                              reason: "reserved bits set without a negotiated extension")
        #expect(parseError(bytes, role: .server) == expected)
        #expect(parseError(bytes, role: .server, allowedReservedBits: .rsv1) == (bits == 0x40 ? nil : expected))
    }

    @Test("§5.1: a server refuses an unmasked frame")
    func unmaskedFrameToServer() {
        let bytes = WireFrame.bytes(opcode: Opcode.text.rawValue, payload: [0x41], key: nil)
        #expect(parseError(bytes, role: .server)
                == WebSocketProtocolError(code: .protocolError, reason: "client frame is not masked"))
        #expect(parseError(bytes, role: .client) == nil)
    }

    @Test("§5.1: a client refuses a masked frame")
    func maskedFrameToClient() {
        let bytes = WireFrame.bytes(opcode: Opcode.text.rawValue, payload: [0x41], key: key)
        #expect(parseError(bytes, role: .client)
                == WebSocketProtocolError(code: .protocolError, reason: "server frame is masked"))
        #expect(parseError(bytes, role: .server) == nil)
    }

    @Test("§5.5: a fragmented control frame is a protocol error", arguments: [Opcode.ping, .pong, .connectionClose])
    func fragmentedControlFrame(opcode: Opcode) {
        let bytes = WireFrame.bytes(fin: false, opcode: opcode.rawValue, payload: [], key: key)
        #expect(parseError(bytes, role: .server)
                == WebSocketProtocolError(code: .protocolError, reason: "fragmented control frame"))
    }

    @Test("§5.5: a control frame over 125 bytes is a protocol error", arguments: [Opcode.ping, .pong, .connectionClose])
    func oversizedControlFrame(opcode: Opcode) {
        let expected = WebSocketProtocolError(code: .protocolError, reason: "control frame payload over 125 bytes")
        let at126 = WireFrame.bytes(opcode: opcode.rawValue, payload: [UInt8](repeating: 0, count: 126), key: key)
        #expect(parseError(at126, role: .server) == expected)
        // Refused from the header alone: two bytes with the 16-bit length marker.
        #expect(parseError([0x80 | opcode.rawValue, 0x80 | 126], role: .server) == expected)
        let at125 = WireFrame.bytes(opcode: opcode.rawValue,
                                    payload: [0x03, 0xE8] + [UInt8](repeating: 0x61, count: 123), key: key)
        #expect(parseError(at125, role: .server) == nil)
    }

    @Test("§5.5: control frames are not bound by the data frame size limit")
    func controlFrameIgnoresFrameLimit() throws {
        let bytes = WireFrame.bytes(opcode: Opcode.ping.rawValue, payload: WireFrame.pattern(125), key: key)
        var parser = FrameParser(role: .server, maxFrameSize: 10, maxMessageSize: 10)
        #expect(try parse([bytes[...]], with: &parser)
                == [Frame(opcode: .ping, payload: ByteBuffer(bytes: WireFrame.pattern(125)))])
    }

    @Test("§5.2: a 64-bit length with its most significant bit set is a protocol error")
    func sixtyFourBitLengthTopBit() {
        let header: [UInt8] = [0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0] + key
        #expect(parseError(header, role: .server)
                == WebSocketProtocolError(code: .protocolError, reason: "64-bit frame length with its top bit set"))
        let unmasked: [UInt8] = [0x82, 127, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        #expect(parseError(unmasked, role: .client)
                == WebSocketProtocolError(code: .protocolError, reason: "64-bit frame length with its top bit set"))
    }

    @Test("an error is found from a header split across reads")
    func errorInSplitHeader() throws {
        let header: [UInt8] = [0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0]
        for split in 1..<header.count {
            var parser = FrameParser(role: .server, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
            var first = ByteBuffer(bytes: header[..<split])
            #expect(try parser.nextFrame(from: &first) == nil)
            var second = ByteBuffer(bytes: header[split...])
            #expect(throws: WebSocketProtocolError(code: .protocolError,
                                                   reason: "64-bit frame length with its top bit set")) {
                try parser.nextFrame(from: &second)
            }
        }
    }
}

@Suite("FrameParser — RFC 6455 §10.4 size limits (1009)")
struct FrameParserLimitTests {
    @Test("a header declaring 2^62 bytes is refused before any payload arrives")
    func hugeDeclaredLength() throws {
        let expected = WebSocketProtocolError(code: .messageTooBig, reason: "message exceeds limit of 1048576 bytes")
        // 2^62 in the 64-bit length, then the masking key; no payload at all.
        let header: [UInt8] = [0x82, 0x80 | 127, 0x40, 0, 0, 0, 0, 0, 0, 0] + key
        #expect(parseError(header, role: .server) == expected)

        // Byte by byte, the error comes once the length is known and no later than the header's end.
        var parser = FrameParser(role: .server, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
        var thrownAt: Int?
        for index in header.indices {
            var buffer = ByteBuffer(bytes: [header[index]])
            do {
                #expect(try parser.nextFrame(from: &buffer) == nil)
            } catch {
                #expect(error == expected)
                thrownAt = index
                break
            }
        }
        let index = try #require(thrownAt)
        #expect(index >= 9)  // the last byte of the 64-bit length
        #expect(index < header.count)
    }

    @Test("a data frame of exactly maxFrameSize is accepted, one byte more is refused from its header")
    func frameLimitBoundary() throws {
        let atLimit = WireFrame.bytes(opcode: Opcode.binary.rawValue, payload: WireFrame.pattern(300), key: key)
        #expect(parseError(atLimit, role: .server, maxFrameSize: 300, maxMessageSize: 1000) == nil)
        let overLimit = WireFrame.bytes(opcode: Opcode.binary.rawValue, payload: WireFrame.pattern(301), key: key)
        // Header only (2 + 2 length bytes + key): the payload never needs to arrive.
        #expect(parseError(Array(overLimit[..<8]), role: .server, maxFrameSize: 300, maxMessageSize: 1000)
                == WebSocketProtocolError(code: .messageTooBig, reason: "frame exceeds limit of 300 bytes"))
    }

    @Test("a first data frame larger than maxMessageSize is refused")
    func firstFrameOverMessageLimit() {
        let bytes = WireFrame.bytes(fin: false, opcode: Opcode.text.rawValue, payload: WireFrame.pattern(101),
                                    key: nil)
        #expect(parseError(bytes, role: .client, maxFrameSize: 1000, maxMessageSize: 100)
                == WebSocketProtocolError(code: .messageTooBig, reason: "message exceeds limit of 100 bytes"))
    }

    @Test("a continuation frame that takes its message past maxMessageSize is refused")
    func continuationCrossingMessageLimit() {
        /// A client's first, unfinished text frame of `length` bytes.
        func first(_ length: Int) -> [UInt8] {
            WireFrame.bytes(fin: false, opcode: Opcode.text.rawValue, payload: WireFrame.pattern(length), key: key)
        }
        let continuation = WireFrame.bytes(opcode: Opcode.continuation.rawValue, payload: WireFrame.pattern(40),
                                           key: key)
        #expect(parseError(first(60) + continuation, role: .server, maxFrameSize: 100, maxMessageSize: 100) == nil)
        #expect(parseError(first(61) + continuation, role: .server, maxFrameSize: 100, maxMessageSize: 100)
                == WebSocketProtocolError(code: .messageTooBig, reason: "message exceeds limit of 100 bytes"))
        // Refused from the header: 2 bytes and the key, none of the 40 payload bytes.
        #expect(parseError(first(61) + Array(continuation[..<6]), role: .server, maxFrameSize: 100,
                           maxMessageSize: 100)
                == WebSocketProtocolError(code: .messageTooBig, reason: "message exceeds limit of 100 bytes"))
        // Every fragment counts: three of 30 bytes leave room for a last one of 10, not 11.
        let thirty = WireFrame.bytes(fin: false, opcode: Opcode.continuation.rawValue,
                                     payload: WireFrame.pattern(30), key: key)
        func last(_ length: Int) -> [UInt8] {
            WireFrame.bytes(opcode: Opcode.continuation.rawValue, payload: WireFrame.pattern(length), key: key)
        }
        #expect(parseError(first(30) + thirty + thirty + last(10), role: .server, maxFrameSize: 100,
                           maxMessageSize: 100) == nil)
        #expect(parseError(first(30) + thirty + thirty + last(11), role: .server, maxFrameSize: 100,
                           maxMessageSize: 100)
                == WebSocketProtocolError(code: .messageTooBig, reason: "message exceeds limit of 100 bytes"))
    }

    @Test("the bytes of a message count only for its own continuation frames: a message's final frame starts the count again")
    func messageBytesIgnoredForNewMessages() {
        let ninetyNine = WireFrame.bytes(opcode: Opcode.text.rawValue, payload: WireFrame.pattern(99).map { $0 & 0x7F },
                                         key: key)
        let text = WireFrame.bytes(opcode: Opcode.text.rawValue, payload: WireFrame.pattern(40).map { $0 & 0x7F },
                                   key: key)
        #expect(parseError(ninetyNine + text, role: .server, maxFrameSize: 100, maxMessageSize: 100) == nil)
        // After a final continuation frame, too.
        let unfinished = WireFrame.bytes(fin: false, opcode: Opcode.binary.rawValue, payload: WireFrame.pattern(60),
                                         key: key)
        let end = WireFrame.bytes(opcode: Opcode.continuation.rawValue, payload: WireFrame.pattern(39), key: key)
        #expect(parseError(unfinished + end + text + unfinished, role: .server, maxFrameSize: 100,
                           maxMessageSize: 100) == nil)
    }

    @Test("control frames between fragments do not count towards the message")
    func controlFramesDoNotCount() {
        let first = WireFrame.bytes(fin: false, opcode: Opcode.binary.rawValue, payload: WireFrame.pattern(60), key: key)
        let ping = WireFrame.bytes(opcode: Opcode.ping.rawValue, payload: WireFrame.pattern(100), key: key)
        let continuation = WireFrame.bytes(opcode: Opcode.continuation.rawValue, payload: WireFrame.pattern(40),
                                           key: key)
        #expect(parseError(first + ping + continuation, role: .server, maxFrameSize: 100, maxMessageSize: 100) == nil)
    }
}
