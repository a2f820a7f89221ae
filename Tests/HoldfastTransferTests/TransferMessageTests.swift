import HoldfastCore
import HoldfastTestSupport
import HoldfastTransfer
import NIOCore
import Testing

/// An id whose bytes are 0x00 … 0x0f, easy to spot in a hex dump.
let sampleID = TransferID(bytes: Array(0..<16))!
/// SHA-256 of `hello`.
let helloDigest = TransferDigest(hexadecimal: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")!

/// Big-endian bytes of a 64-bit value.
func bigEndian(_ value: UInt64) -> [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }

@Suite("TransferMessage — the transfer sub-protocol, byte for byte")
struct TransferMessageTests {
    static let header: [UInt8] = [0x48, 0x01]

    static let samples: [TransferMessage] = [
        .offer(TransferOffer(id: sampleID, size: 5, digest: helloDigest, name: "hello.txt")),
        .offer(TransferOffer(id: sampleID, size: 1 << 40, digest: nil, name: "stream.bin")),
        .chunk(id: sampleID, offset: 65_509, data: ByteBuffer(string: "hello")),
        .chunk(id: sampleID, offset: 0, data: ByteBuffer()),
        .finish(id: sampleID, digest: helloDigest),
        .resume(id: sampleID, offset: 123_456_789),
        .acknowledge(id: sampleID, offset: Int(Int64.max)),
        .complete(id: sampleID, digest: helloDigest),
        .refuse(id: sampleID, TransferRefusal(.storeFull, "transfer of 9 bytes does not fit — ¡lleno!")),
    ]

    @Test("SHA-256 of 'hello' and the digest's hexadecimal form")
    func digestOfHello() {
        #expect(TransferDigest(of: ByteBuffer(string: "hello")) == helloDigest)
        #expect(helloDigest.description == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        var hasher = TransferHasher()
        hasher.update(ByteBuffer(string: "he"))
        hasher.update(ByteBuffer(string: "llo"))
        #expect(hasher.finalize() == helloDigest)
    }

    @Test("an offer: marker, version, kind 01, id, size, flags, digest, name length, name")
    func offerBytes() {
        let message = TransferMessage.offer(TransferOffer(id: sampleID, size: 5, digest: helloDigest, name: "a.txt"))
        let expected = Self.header + [0x01] + Array(0..<16) + bigEndian(5) + [0x01] + helloDigest.bytes
            + [0x00, 0x05] + Array("a.txt".utf8)
        #expect(Array(message.encoded().readableBytesView) == expected)
    }

    @Test("an offer without a digest has flags 00 and no digest bytes")
    func offerWithoutDigestBytes() {
        let message = TransferMessage.offer(TransferOffer(id: sampleID, size: 7, digest: nil, name: "s"))
        let expected = Self.header + [0x01] + Array(0..<16) + bigEndian(7) + [0x00, 0x00, 0x01, 0x73]
        #expect(Array(message.encoded().readableBytesView) == expected)
    }

    @Test("a chunk: 27 header bytes, then the data as is (no base64, no length)")
    func chunkBytes() {
        let message = TransferMessage.chunk(id: sampleID, offset: 0x0102_0304, data: ByteBuffer(bytes: [0xFF, 0x00, 0x7F]))
        let expected = Self.header + [0x02] + Array(0..<16) + bigEndian(0x0102_0304) + [0xFF, 0x00, 0x7F]
        #expect(Array(message.encoded().readableBytesView) == expected)
        #expect(TransferMessage.chunkHeaderSize == 27)
        #expect(message.encoded().readableBytes == TransferMessage.chunkHeaderSize + 3)
    }

    @Test("the receiver's messages: resume 11, acknowledge 12, complete 13, refuse 14")
    func receiverBytes() {
        let id = Array(0..<16) as [UInt8]
        #expect(Array(TransferMessage.resume(id: sampleID, offset: 9).encoded().readableBytesView)
                == Self.header + [0x11] + id + bigEndian(9))
        #expect(Array(TransferMessage.acknowledge(id: sampleID, offset: 65_536).encoded().readableBytesView)
                == Self.header + [0x12] + id + bigEndian(65_536))
        #expect(Array(TransferMessage.complete(id: sampleID, digest: helloDigest).encoded().readableBytesView)
                == Self.header + [0x13] + id + helloDigest.bytes)
        #expect(Array(TransferMessage.refuse(id: sampleID, TransferRefusal(.invalidName, "no")).encoded().readableBytesView)
                == Self.header + [0x14] + id + [0x04] + Array("no".utf8))
        #expect(Array(TransferMessage.finish(id: sampleID, digest: helloDigest).encoded().readableBytesView)
                == Self.header + [0x03] + id + helloDigest.bytes)
    }

    @Test("the example of docs/transfer-protocol.md: 'hello' as hello.txt, its id and its offer byte for byte")
    func documentedExample() {
        let id = TransferID(name: "hello.txt", size: 5, digest: helloDigest)
        #expect(id.description == "b697bb093de9a23c81944b3cbfa41f80")
        let offer = TransferMessage.offer(TransferOffer(id: id, size: 5, digest: helloDigest, name: "hello.txt"))
        let documented = """
            48 01 01 b6 97 bb 09 3d e9 a2 3c 81 94 4b 3c bf a4 1f 80 00 00 00 00 00 00 00 05 01 2c f2 4d ba 5f b0 \
            a3 0e 26 e8 3b 2a c5 b9 e2 9e 1b 16 1e 5c 1f a7 42 5e 73 04 33 62 93 8b 98 24 00 09 68 65 6c 6c 6f 2e \
            74 78 74
            """
        #expect(hexadecimalDump(offer.encoded()) == documented)
        let chunk = TransferMessage.chunk(id: id, offset: 3, data: ByteBuffer(string: "lo"))
        #expect(hexadecimalDump(chunk.encoded())
                == "48 01 02 b6 97 bb 09 3d e9 a2 3c 81 94 4b 3c bf a4 1f 80 00 00 00 00 00 00 00 03 6c 6f")
    }

    @Test("every kind decodes to what was encoded", arguments: samples)
    func roundTrip(message: TransferMessage) throws {
        #expect(try TransferMessage(decoding: message.encoded()) == message)
    }

    @Test("every strict prefix of a fixed-size message is refused as truncated",
          arguments: samples.filter { if case .chunk = $0 { return false }; if case .refuse = $0 { return false }; return true })
    func truncated(message: TransferMessage) {
        let bytes = Array(message.encoded().readableBytesView)
        for length in 0..<bytes.count {
            #expect(throws: TransferProtocolError.self, "prefix of \(length) bytes") {
                try TransferMessage(decoding: ByteBuffer(bytes: bytes.prefix(length)))
            }
        }
    }

    @Test("a chunk or refusal cut inside its header is refused; after it, the rest is the data or reason")
    func truncatedChunkHeader() throws {
        let bytes = Array(TransferMessage.chunk(id: sampleID, offset: 1, data: ByteBuffer()).encoded().readableBytesView)
        for length in 0..<bytes.count {
            #expect(throws: TransferProtocolError.self) { try TransferMessage(decoding: ByteBuffer(bytes: bytes.prefix(length))) }
        }
        #expect(try TransferMessage(decoding: ByteBuffer(bytes: bytes)) == .chunk(id: sampleID, offset: 1, data: ByteBuffer()))
    }

    @Test("malformed messages get a reason that says what is wrong",
          arguments: [
            ([0x7B, 0x22], "not a transfer message: it does not begin with 0x48"),
            ([0x48, 0x02, 0x01], "transfer protocol version 2 is not supported (this side speaks 1)"),
            ([0x48, 0x01, 0x7F] + Array(repeating: 0, count: 16), "unknown transfer message kind 0x7f"),
            ([0x48, 0x01, 0x11] + Array(0..<16) + bigEndian(5) + [0x00], "1 unexpected bytes after a resume message"),
            ([0x48, 0x01, 0x12] + Array(0..<16) + bigEndian(1 << 63), "acknowledge offset 9223372036854775808 is beyond 2^63 - 1"),
            ([0x48, 0x01, 0x01] + Array(0..<16) + bigEndian(1) + [0x02, 0x00, 0x00], "offer flags 0x2 set reserved bits"),
            ([0x48, 0x01, 0x01] + Array(0..<16) + bigEndian(1) + [0x00, 0x00, 0x01, 0xFF], "offer name is not UTF-8"),
            ([0x48, 0x01, 0x14] + Array(0..<16) + [0x01, 0xC3], "refuse reason is not UTF-8"),
            ([0x48, 0x01, 0x03] + Array(0..<16) + [0x01, 0x02], "transfer message ends inside its finish digest"),
          ] as [([UInt8], String)])
    func malformed(bytes: [UInt8], reason: String) {
        #expect(throws: TransferProtocolError(reason)) { try TransferMessage(decoding: ByteBuffer(bytes: bytes)) }
    }

    @Test("an unknown refusal code decodes as .other, keeping the reason")
    func unknownRefusalCode() throws {
        let bytes: [UInt8] = [0x48, 0x01, 0x14] + Array(0..<16) + [0x63] + Array("later".utf8)
        #expect(try TransferMessage(decoding: ByteBuffer(bytes: bytes)) == .refuse(id: sampleID, TransferRefusal(.other, "later")))
    }

    @Test("ids: derived from name, size and digest (stable, and different when any differs); hex round trip")
    func ids() {
        let id = TransferID(name: "a.bin", size: 5, digest: helloDigest)
        #expect(id == TransferID(name: "a.bin", size: 5, digest: helloDigest))
        #expect(id != TransferID(name: "b.bin", size: 5, digest: helloDigest))
        #expect(id != TransferID(name: "a.bin", size: 6, digest: helloDigest))
        #expect(id != TransferID(name: "a.bin", size: 5, digest: TransferDigest(of: ByteBuffer(string: "x"))))
        #expect(TransferID(hexadecimal: id.description) == id)
        #expect(sampleID.description == "000102030405060708090a0b0c0d0e0f")
        #expect(TransferID(hexadecimal: "000102030405060708090a0b0c0d0e0") == nil)
        #expect(TransferID(hexadecimal: "000102030405060708090a0b0c0d0e0g") == nil)
        #expect(TransferID(bytes: [1, 2, 3]) == nil)
        var random = SeededRandomNumberGenerator(seed: 8)
        let first = TransferID(using: &random)
        #expect(first != TransferID(using: &random))
    }
}

/// Bytes as two-digit hexadecimal separated by spaces, as the protocol document shows them.
func hexadecimalDump(_ buffer: ByteBuffer) -> String {
    buffer.readableBytesView.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
}
