import BenchZlib
import HoldfastCore
import NIOCore

/// What the echoed messages contain.
enum PayloadKind: String, Sendable, CaseIterable {
    /// JSON-like records of words and numbers, sent as text: compresses about 4–6×, like API traffic.
    case json
    /// Uniformly random bytes, sent as binary: incompressible.
    case binary
}

/// A small deterministic generator (SplitMix64), so every run sends the same messages.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Payloads {
    private static let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
        "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    ]
    private static let events = ["page_view", "click", "add_to_cart", "checkout", "login", "logout", "search"]

    /// `size` bytes of message `index`: ASCII (valid UTF-8) for `.json`, random bytes for `.binary`.
    static func make(_ kind: PayloadKind, size: Int, index: Int) -> [UInt8] {
        var random = SplitMix64(seed: 0x686F_6C64 &+ UInt64(index) &* 0x1_0000_0001)
        switch kind {
        case .binary:
            var bytes = [UInt8](repeating: 0, count: size)
            var offset = 0
            while offset < size {
                var word = random.next()
                for _ in 0..<8 where offset < size {
                    bytes[offset] = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                    offset += 1
                }
            }
            return bytes
        case .json:
            var text = "["
            var id = Int(random.next() % 100_000)
            while text.utf8.count < size {
                id += 1 + Int(random.next() % 7)
                let tags = (0..<(1 + Int(random.next() % 3))).map { _ in "\"\(words.randomElement(using: &random)!)\"" }
                text += "{\"id\":\(id),\"user\":\"user_\(random.next() % 5000)\","
                    + "\"event\":\"\(events.randomElement(using: &random)!)\",\"ts\":\(1_700_000_000 + id * 3),"
                    + "\"tags\":[\(tags.joined(separator: ","))],\"score\":0.\(random.next() % 1000),"
                    + "\"path\":\"/products/\(random.next() % 10_000)/\(words.randomElement(using: &random)!)\","
                    + "\"ok\":\(random.next() % 4 != 0)},"
            }
            return Array(text.utf8.prefix(size))
        }
    }
}

/// Raw DEFLATE (RFC 7692 §7.2.1) of one whole message with a fresh window, as a client that
/// offered `client_no_context_takeover` may send it: the same bytes are valid on every send.
func deflateMessage(_ input: [UInt8], windowBits: Int, level: Int32 = 6) throws -> [UInt8] {
    var stream = z_stream()
    guard deflateInit2_(&stream, level, Z_DEFLATED, -Int32(windowBits), 8, Z_DEFAULT_STRATEGY,
                        ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
    else { throw LoadError("deflateInit2 failed for \(windowBits) window bits") }
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
    var input = input
    let produced: Int = input.withUnsafeMutableBufferPointer { source in
        output.withUnsafeMutableBufferPointer { destination in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            stream.next_out = destination.baseAddress
            stream.avail_out = uInt(destination.count)
            _ = deflate(&stream, Z_SYNC_FLUSH)
            return destination.count - Int(stream.avail_out)
        }
    }
    guard stream.avail_in == 0, produced >= 4, output[produced - 4..<produced] == [0, 0, 0xFF, 0xFF]
    else { throw LoadError("deflate did not end in an empty stored block") }
    // §7.2.1: the trailing 00 00 FF FF of the sync flush is removed.
    return Array(output[0..<produced - 4])
}

/// Inflates one message that starts with an empty window (the first a server sends on a
/// connection, whatever its context takeover): `nil` if it is not valid DEFLATE.
func inflateMessage(_ input: ByteBuffer, expectedSize: Int) -> [UInt8]? {
    var stream = z_stream()
    guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
    defer { inflateEnd(&stream) }
    var source = Array(input.readableBytesView) + [0, 0, 0xFF, 0xFF]
    var output = [UInt8](repeating: 0, count: expectedSize + 1)
    let produced: Int? = source.withUnsafeMutableBufferPointer { source in
        output.withUnsafeMutableBufferPointer { destination in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            stream.next_out = destination.baseAddress
            stream.avail_out = uInt(destination.count)
            let status = inflate(&stream, Z_SYNC_FLUSH)
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else { return nil }
            return destination.count - Int(stream.avail_out)
        }
    }
    guard let produced else { return nil }
    return Array(output[0..<produced])
}

/// The messages of a run, each encoded once as a complete masked client frame (its own key),
/// then sent again and again from the pool without copying.
struct MessagePool: Sendable {
    var frames: [ByteBuffer] = []
    var payloads: [[UInt8]] = []
    var opcode: Opcode
    var compressed: Bool
    var messageSize: Int
    /// Frame bytes on the wire over raw message bytes (1 without compression, plus headers).
    var wireRatio: Double

    /// Builds `count` messages of `size` bytes; compressed with `windowBits` when given.
    init(kind: PayloadKind, size: Int, count: Int, compressWindowBits: Int?) throws {
        opcode = kind == .json ? .text : .binary
        compressed = compressWindowBits != nil
        messageSize = size
        var random = SystemRandomNumberGenerator()
        var wire = 0
        for index in 0..<count {
            let payload = Payloads.make(kind, size: size, index: index)
            let body = try compressWindowBits.map { try deflateMessage(payload, windowBits: $0) } ?? payload
            var masked = ByteBuffer(bytes: body)
            let key = MaskingKey.random(using: &random)
            _ = key.apply(to: &masked)
            var frame = ByteBuffer()
            frame.reserveCapacity(FrameSerializer.headerLength(payloadLength: body.count, masked: true) + body.count)
            FrameSerializer.writeHeader(fin: true, reservedBits: compressed ? .rsv1 : [], opcode: opcode,
                                        payloadLength: body.count, maskingKey: key, into: &frame)
            frame.writeBuffer(&masked)
            wire += frame.readableBytes
            frames.append(frame)
            payloads.append(payload)
        }
        wireRatio = Double(wire) / Double(max(1, size * count))
    }

    /// How many distinct messages to prebuild: at most 256 and at most 64 MiB of them.
    static func count(forSize size: Int) -> Int { max(1, min(256, (64 << 20) / max(1, size))) }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
