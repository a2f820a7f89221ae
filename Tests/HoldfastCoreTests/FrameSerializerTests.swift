import HoldfastCore
import HoldfastTestSupport
import NIOCore
import Testing

private let keyBytes: [UInt8] = [0xA1, 0xB2, 0xC3, 0xD4]
private let key = MaskingKey(0xA1, 0xB2, 0xC3, 0xD4)

/// Payload lengths at the edges of the three length encodings, with the length bytes that follow
/// the second header byte's 7-bit field (RFC 6455 §5.2).
private let lengthEncodings: [(length: Int, sevenBit: UInt8, extended: [UInt8])] = [
    (0, 0, []),
    (1, 1, []),
    (125, 125, []),
    (126, 126, [0x00, 0x7E]),
    (65535, 126, [0xFF, 0xFF]),
    (65536, 127, [0, 0, 0, 0, 0, 0x01, 0x00, 0x00]),
    (70_000, 127, [0, 0, 0, 0, 0, 0x01, 0x11, 0x70]),
]

@Suite("FrameSerializer — RFC 6455 §5.2 base framing")
struct FrameSerializerTests {
    @Test("header lengths: 2, plus 2 or 8 for the extended length, plus 4 for a key")
    func headerLength() {
        let expected: [(Int, Int)] = [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (1 << 40, 10)]
        for (length, size) in expected {
            #expect(FrameSerializer.headerLength(payloadLength: length, masked: false) == size, "length \(length)")
            #expect(FrameSerializer.headerLength(payloadLength: length, masked: true) == size + 4, "length \(length)")
        }
    }

    @Test("unmasked headers use the shortest length encoding")
    func unmaskedHeaders() {
        for (length, sevenBit, extended) in lengthEncodings {
            var buffer = ByteBuffer()
            FrameSerializer.writeHeader(fin: true, opcode: .binary, payloadLength: length, maskingKey: nil,
                                        into: &buffer)
            #expect(Array(buffer.readableBytesView) == [0x82, sevenBit] + extended, "length \(length)")
        }
    }

    @Test("masked headers set the mask bit and end with the key")
    func maskedHeaders() {
        for (length, sevenBit, extended) in lengthEncodings {
            var buffer = ByteBuffer()
            FrameSerializer.writeHeader(fin: true, opcode: .text, payloadLength: length, maskingKey: key,
                                        into: &buffer)
            #expect(Array(buffer.readableBytesView) == [0x81, 0x80 | sevenBit] + extended + keyBytes,
                    "length \(length)")
        }
    }

    @Test("the first byte carries FIN, RSV1-3 and the opcode")
    func firstByte() {
        let cases: [(Bool, ReservedBits, Opcode, UInt8)] = [
            (true, [], .text, 0x81),
            (false, [], .text, 0x01),
            (false, [], .continuation, 0x00),
            (true, [], .continuation, 0x80),
            (true, .rsv1, .binary, 0xC2),
            (true, [.rsv2, .rsv3], .binary, 0xB2),
            (true, [], .connectionClose, 0x88),
            (true, [], .ping, 0x89),
            (true, [], .pong, 0x8A),
        ]
        for (fin, reservedBits, opcode, expected) in cases {
            var buffer = ByteBuffer()
            FrameSerializer.writeHeader(fin: fin, reservedBits: reservedBits, opcode: opcode, payloadLength: 0,
                                        maskingKey: nil, into: &buffer)
            #expect(Array(buffer.readableBytesView) == [expected, 0x00], "\(opcode) fin \(fin)")
        }
    }

    @Test("a whole unmasked frame is the header followed by the payload as it is")
    func unmaskedFrame() {
        for (length, _, _) in lengthEncodings {
            let payload = WireFrame.pattern(length)
            var buffer = ByteBuffer()
            FrameSerializer.write(Frame(opcode: .binary, payload: ByteBuffer(bytes: payload)), maskingKey: nil,
                                  into: &buffer)
            #expect(Array(buffer.readableBytesView)
                    == WireFrame.bytes(opcode: Opcode.binary.rawValue, payload: payload), "length \(length)")
        }
    }

    @Test("a whole masked frame is the header, the key and the payload XORed with the key")
    func maskedFrame() {
        for (length, _, _) in lengthEncodings {
            let payload = WireFrame.pattern(length, seed: 3)
            var buffer = ByteBuffer()
            FrameSerializer.write(Frame(fin: false, opcode: .text, payload: ByteBuffer(bytes: payload)),
                                  maskingKey: key, into: &buffer)
            #expect(Array(buffer.readableBytesView)
                    == WireFrame.bytes(fin: false, opcode: Opcode.text.rawValue, payload: payload, key: keyBytes),
                    "length \(length)")
        }
    }

    @Test("write appends after what the buffer already holds and leaves the frame's payload intact")
    func appends() {
        var buffer = ByteBuffer(bytes: [0xEE, 0xEE])
        let payload = ByteBuffer(bytes: [1, 2, 3, 4, 5])
        let frame = Frame(opcode: .binary, payload: payload)
        FrameSerializer.write(frame, maskingKey: key, into: &buffer)
        #expect(Array(buffer.readableBytesView)
                == [0xEE, 0xEE] + WireFrame.bytes(opcode: 2, payload: [1, 2, 3, 4, 5], key: keyBytes))
        #expect(frame.payload == ByteBuffer(bytes: [1, 2, 3, 4, 5]))
    }

    @Test("round trip: serialized frames parse back to themselves, masked and unmasked")
    func roundTrip() throws {
        var random = SeededRandomNumberGenerator(seed: 0x7777)
        let dataOpcodes: [Opcode] = [.text, .binary, .continuation]
        let controlOpcodes: [Opcode] = [.ping, .pong, .connectionClose]
        var frames: [Frame] = []
        for index in 0..<60 {
            let isControl = index % 3 == 0
            let opcode = isControl ? controlOpcodes.randomElement(using: &random)!
                : dataOpcodes.randomElement(using: &random)!
            let length = isControl ? Int.random(in: 0...125, using: &random)
                : [0, 1, 125, 126, 127, 65535, 65536, Int.random(in: 0...3000, using: &random)]
                    .randomElement(using: &random)!
            let payload = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            frames.append(Frame(fin: isControl || Bool.random(using: &random), opcode: opcode,
                                payload: ByteBuffer(bytes: payload)))
        }
        for masked in [true, false] {
            var wire = ByteBuffer()
            for frame in frames {
                FrameSerializer.write(frame, maskingKey: masked ? MaskingKey.random(using: &random) : nil,
                                      into: &wire)
            }
            var parser = FrameParser(role: masked ? .server : .client, maxFrameSize: 1 << 20,
                                     maxMessageSize: 1 << 20)
            var parsed: [Frame] = []
            while let frame = try parser.nextFrame(from: &wire) { parsed.append(frame) }
            #expect(parsed == frames, "masked \(masked)")
            #expect(wire.readableBytes == 0)
        }
    }
}
