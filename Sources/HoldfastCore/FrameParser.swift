import NIOCore

/// Parses RFC 6455 frames incrementally from bytes split in any way.
///
/// Feed it whatever arrived and call ``nextFrame(from:)`` until it returns
/// `nil`; bytes of an incomplete header are kept (at most 13), and the payload of an incomplete
/// frame is unmasked straight into the buffer the frame will carry, so each payload byte is copied
/// once. Everything a header can tell is checked as soon as the header is complete: opcode,
/// reserved bits, masking, control-frame rules and the size limits, so that an oversized frame is
/// refused before any of its payload is read.
public struct FrameParser: Sendable {
    /// The role of the endpoint that receives these frames: a server requires masked frames, a
    /// client unmasked ones (RFC 6455 §5.1).
    public let role: Role
    /// Reserved bits a negotiated extension gives a meaning to; any other set bit is a protocol error.
    public var allowedReservedBits: ReservedBits = []
    // (The one-byte fields come first, together, so that the parser carries no padding between
    // them: every connection holds one.)
    /// Whether the fragmented message in progress is compressed (RSV1 on its first frame,
    /// RFC 7692 §6.1), so that its continuation frames get the same allowance as its first frame.
    private var messageIsCompressed = false
    /// The largest payload a data frame may declare.
    public var maxFrameSize: Int
    /// The largest message; a data frame is refused when it would take its message past this.
    public var maxMessageSize: Int
    /// Payload bytes declared by the data frames of the fragmented message in progress, counted
    /// against ``maxMessageSize`` when its next continuation frame's header arrives; 0 between
    /// messages.
    private var messageBytesSoFar = 0

    private struct Header {
        var fin: Bool
        var reservedBits: ReservedBits
        var opcode: Opcode
        var maskingKey: MaskingKey?
        var payloadLength: Int
    }

    private enum State {
        case awaitingHeader
        case awaitingPayload(Header, payload: ByteBuffer, maskPhase: Int)
    }

    private var state: State = .awaitingHeader
    /// Bytes of a header that arrived split across reads.
    private var partialHeader = Self.emptyBuffer
    /// Shared by every parser: the allocator is a few function pointers, not worth a copy in
    /// each connection.
    private static let allocator = ByteBufferAllocator()

    /// The longest header: 2 bytes, a 64-bit length and a masking key.
    static let maximumHeaderLength = 14

    /// An empty buffer to reset to without allocating.
    private static let emptyBuffer = ByteBuffer()

    /// Creates a parser for frames received by `role`, with the given limits.
    public init(role: Role, maxFrameSize: Int, maxMessageSize: Int) {
        self.role = role
        self.maxFrameSize = maxFrameSize
        self.maxMessageSize = maxMessageSize
    }

    /// The opcode, reserved bits and the bytes received so far of a frame whose payload is
    /// incomplete, so that an uncompressed text frame can be validated before it ends.
    public var payloadInProgress: (opcode: Opcode, reservedBits: ReservedBits, received: ByteBuffer)? {
        guard case .awaitingPayload(let header, let payload, _) = state else { return nil }
        return (header.opcode, header.reservedBits, payload)
    }

    /// Consumes bytes from `input` and returns the next complete frame, or `nil` once `input` is
    /// used up without completing one.
    ///
    /// The parser follows fragmented messages itself (RFC 6455 §5.4: a message's fragments arrive
    /// in order, not interleaved with another message's), so that the message limit counts what
    /// the earlier fragments declared.
    ///
    /// - Parameter input: received bytes; on return, what follows the frame (empty when `nil` is
    ///   returned).
    /// - Throws: the close code and reason to fail the connection with.
    public mutating func nextFrame(from input: inout ByteBuffer) throws(WebSocketProtocolError) -> Frame? {
        switch state {
        case .awaitingHeader:
            guard let header = try readHeader(from: &input) else {
                return nil
            }
            countTowardsMessage(header)
            return readPayload(header, from: &input)
        case .awaitingPayload(let header, var payload, let phase):
            state = .awaitingHeader  // drop the state's reference so `payload` is uniquely owned
            return continuePayload(header, payload: &payload, phase: phase, from: &input)
        }
    }

    /// Keeps the running total of the fragmented message a data frame belongs to.
    private mutating func countTowardsMessage(_ header: Header) {
        guard !header.opcode.isControl else { return }
        if header.fin {
            messageBytesSoFar = 0
            messageIsCompressed = false
        } else if header.opcode == .continuation {
            messageBytesSoFar += header.payloadLength
        } else {
            messageBytesSoFar = header.payloadLength
            messageIsCompressed = header.reservedBits.contains(.rsv1)
        }
    }

    private mutating func readHeader(from input: inout ByteBuffer) throws(WebSocketProtocolError) -> Header? {
        if partialHeader.readableBytes == 0 {
            let parsed = try input.withUnsafeReadableBytes { bytes throws(WebSocketProtocolError) in
                try parseHeader(bytes)
            }
            guard let (header, length) = parsed else {
                partialHeader.writeBuffer(&input)
                return nil
            }
            input.moveReaderIndex(forwardBy: length)
            return header
        }
        // A header split across reads: look at the stashed bytes followed by enough new ones.
        var scratch = partialHeader
        let stashed = scratch.readableBytes
        let borrowed = min(Self.maximumHeaderLength - stashed, input.readableBytes)
        if let more = input.getSlice(at: input.readerIndex, length: borrowed) {
            var more = more
            scratch.writeBuffer(&more)
        }
        let parsed = try scratch.withUnsafeReadableBytes { bytes throws(WebSocketProtocolError) in
            try parseHeader(bytes)
        }
        guard let (header, length) = parsed else {
            // Incomplete means fewer than 14 bytes in all, so all of `input` was borrowed.
            partialHeader.writeBuffer(&input)
            return nil
        }
        input.moveReaderIndex(forwardBy: length - stashed)
        partialHeader = Self.emptyBuffer
        return header
    }

    private func parseHeader(_ bytes: UnsafeRawBufferPointer) throws(WebSocketProtocolError) -> (Header, Int)? {
        guard bytes.count >= 2 else { return nil }
        let first = bytes[0]
        let second = bytes[1]
        let rawOpcode = first & 0x0F
        guard let opcode = Opcode(rawValue: rawOpcode) else {
            throw .protocolError("reserved opcode \(rawOpcode)")
        }
        let reservedBits = ReservedBits(rawValue: first)
        guard reservedBits.isSubset(of: allowedReservedBits) else {
            throw .protocolError("reserved bits set without a negotiated extension")
        }
        let fin = first & 0x80 != 0
        let masked = second & 0x80 != 0
        // RFC 6455 §5.1: clients mask every frame, servers never do.
        switch role {
        case .server where !masked: throw .protocolError("client frame is not masked")
        case .client where masked: throw .protocolError("server frame is masked")
        default: break
        }
        let shortLength = Int(second & 0x7F)
        if opcode.isControl {
            // RFC 6455 §5.5: control frames are never fragmented and carry at most 125 bytes.
            guard fin else { throw .protocolError("fragmented control frame") }
            guard shortLength <= 125 else { throw .protocolError("control frame payload over 125 bytes") }
        }
        var offset = 2
        let payloadLength: Int
        switch shortLength {
        case 126:
            guard bytes.count >= 4 else { return nil }
            payloadLength = Int(UInt16(bytes[2]) << 8 | UInt16(bytes[3]))
            offset = 4
        case 127:
            guard bytes.count >= 10 else { return nil }
            var length: UInt64 = 0
            for index in 2..<10 { length = length << 8 | UInt64(bytes[index]) }
            // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
            guard length <= UInt64(Int64.max) else { throw .protocolError("64-bit frame length with its top bit set") }
            payloadLength = Int(length)
            offset = 10
        default:
            payloadLength = shortLength
        }
        if !opcode.isControl {
            // Limits are enforced on the declared length, before a byte of payload is buffered. The
            // message limit is named first: when both bind, it is the one the user set.
            let previous = opcode == .continuation ? messageBytesSoFar : 0
            // A compressed message is held to the limits once inflated; on the wire it may be a
            // little longer than that, as deflate makes incompressible data.
            let compressed = opcode == .continuation ? messageIsCompressed : reservedBits.contains(.rsv1)
            let messageLimit = compressed ? Self.withDeflateOverhead(maxMessageSize) : maxMessageSize
            let frameLimit = compressed ? Self.withDeflateOverhead(maxFrameSize) : maxFrameSize
            if payloadLength > messageLimit - previous { throw .messageTooBig(limit: maxMessageSize) }
            if payloadLength > frameLimit { throw .frameTooBig(limit: maxFrameSize) }
        }
        var maskingKey: MaskingKey?
        if masked {
            guard bytes.count >= offset + 4 else { return nil }
            maskingKey = MaskingKey(bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3])
            offset += 4
        }
        let header = Header(fin: fin, reservedBits: reservedBits, opcode: opcode, maskingKey: maskingKey,
                            payloadLength: payloadLength)
        return (header, offset)
    }

    /// `limit` plus what deflate may add to `limit` bytes it cannot compress: a 5-byte header per
    /// stored block, and the flush (RFC 7692 §7.2.1). zlib ends a block every 2^(memLevel + 6)
    /// symbols, so the overhead is 0.03 % at its default memory level, 0.25 % at 5 (websockets',
    /// and Holdfast's), 4 % at 1: a sixteenth covers every level.
    static func withDeflateOverhead(_ limit: Int) -> Int {
        limit >= Int.max / 2 ? limit : limit + limit / 16 + 64
    }

    private mutating func readPayload(_ header: Header, from input: inout ByteBuffer) -> Frame? {
        let length = header.payloadLength
        if input.readableBytes >= length, header.maskingKey == nil {
            return frame(header, input.readSlice(length: length) ?? ByteBuffer())
        }
        var payload = Self.allocator.buffer(capacity: length)
        return continuePayload(header, payload: &payload, phase: 0, from: &input)
    }

    private mutating func continuePayload(_ header: Header, payload: inout ByteBuffer, phase: Int,
                                          from input: inout ByteBuffer) -> Frame? {
        let wanted = min(header.payloadLength - payload.readableBytes, input.readableBytes)
        var phase = phase
        if let key = header.maskingKey {
            phase = copy(wanted, from: &input, into: &payload, key: key, phase: phase)
        } else if var chunk = input.readSlice(length: wanted) {
            payload.writeBuffer(&chunk)
        }
        if payload.readableBytes == header.payloadLength {
            return frame(header, payload)
        }
        state = .awaitingPayload(header, payload: payload, maskPhase: phase)
        return nil
    }

    /// Moves `count` bytes from `input` to the end of `destination`, unmasking as it copies.
    /// Returns the mask phase for the byte after the last.
    private func copy(_ count: Int, from input: inout ByteBuffer, into destination: inout ByteBuffer,
                      key: MaskingKey, phase: Int) -> Int {
        var nextPhase = phase
        input.withUnsafeReadableBytes { source in
            guard let sourceBase = source.baseAddress else { return }
            destination.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                guard let targetBase = target.baseAddress else { return 0 }
                nextPhase = key.apply(from: sourceBase, to: targetBase, count: count, phase: phase)
                return count
            }
        }
        input.moveReaderIndex(forwardBy: count)
        return nextPhase
    }

    private func frame(_ header: Header, _ payload: ByteBuffer) -> Frame {
        Frame(fin: header.fin, reservedBits: header.reservedBits, opcode: header.opcode, payload: payload)
    }
}
