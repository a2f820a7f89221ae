import NIOCore

/// Writes RFC 6455 frames: the header with the shortest length encoding, then the payload,
/// masked when a key is given (client to server).
public enum FrameSerializer {
    /// The header size for a payload of `length` bytes: 2, plus 2 or 8 for the extended length,
    /// plus 4 for a masking key.
    @inlinable
    public static func headerLength(payloadLength length: Int, masked: Bool) -> Int {
        let lengthBytes = length < 126 ? 0 : (length <= 0xFFFF ? 2 : 8)
        return 2 + lengthBytes + (masked ? 4 : 0)
    }

    /// Writes a frame header.
    /// - Parameters:
    ///   - fin: whether this frame ends its message.
    ///   - reservedBits: RSV1–3 as negotiated extensions require.
    ///   - opcode: the frame's opcode.
    ///   - payloadLength: the payload's length in bytes.
    ///   - maskingKey: the key for a client frame; `nil` for a server frame.
    ///   - buffer: where the header is appended.
    public static func writeHeader(fin: Bool, reservedBits: ReservedBits = [], opcode: Opcode, payloadLength: Int,
                                   maskingKey: MaskingKey?, into buffer: inout ByteBuffer) {
        let first = (fin ? 0x80 : 0) | reservedBits.rawValue | opcode.rawValue
        let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
        switch payloadLength {
        case ..<126:
            buffer.writeMultipleIntegers(first, maskBit | UInt8(payloadLength))
        case ...0xFFFF:
            buffer.writeMultipleIntegers(first, maskBit | 126, UInt16(payloadLength))
        default:
            buffer.writeMultipleIntegers(first, maskBit | 127, UInt64(payloadLength))
        }
        if let key = maskingKey {
            buffer.writeMultipleIntegers(key.bytes.0, key.bytes.1, key.bytes.2, key.bytes.3)
        }
    }

    /// Appends a whole frame to `buffer`: its header, then its payload, masked with `maskingKey`
    /// as it is copied when one is given.
    public static func write(_ frame: Frame, maskingKey: MaskingKey?, into buffer: inout ByteBuffer) {
        let length = frame.payload.readableBytes
        buffer.reserveCapacity(minimumWritableBytes: headerLength(payloadLength: length, masked: maskingKey != nil)
                               + length)
        writeHeader(fin: frame.fin, reservedBits: frame.reservedBits, opcode: frame.opcode, payloadLength: length,
                    maskingKey: maskingKey, into: &buffer)
        guard let key = maskingKey else {
            buffer.writeImmutableBuffer(frame.payload)
            return
        }
        frame.payload.withUnsafeReadableBytes { source in
            guard let sourceBase = source.baseAddress else { return }
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { target in
                guard let targetBase = target.baseAddress else { return 0 }
                key.apply(from: sourceBase, to: targetBase, count: length)
                return length
            }
        }
    }
}
