import NIOCore

/// Reads the server's frames as a stream without unmasking (they are not masked), inflating or
/// copying payloads: data frames are skipped by their declared length and counted per message;
/// control frames are read whole. The payload of one chosen message can be collected to check it.
struct ServerFrameReader {
    enum Event {
        /// A whole message: whether RSV1 (compressed) was set, its payload bytes on the wire, and
        /// the payload itself when it was collected.
        case message(compressed: Bool, wireBytes: Int, payload: ByteBuffer?)
        case ping(ByteBuffer)
        case pong
        /// The server's close frame and its status code (nil: none given).
        case close(UInt16?)
    }

    /// Whether RSV1 may be set (permessage-deflate was agreed).
    var allowCompression: Bool
    /// Collect the payload of the next message to start.
    var collectNextMessage = false

    private var pending: ByteBuffer?
    private var skip = 0
    private var frameFin = false
    private var inMessage = false
    private var messageCompressed = false
    private var messageWireBytes = 0
    private var collected: ByteBuffer?

    init(allowCompression: Bool) { self.allowCompression = allowCompression }

    mutating func read(_ incoming: ByteBuffer, _ handle: (Event) throws -> Void) throws {
        var buffer: ByteBuffer
        if var earlier = pending {
            var incoming = incoming
            earlier.writeBuffer(&incoming)
            buffer = earlier
            pending = nil
        } else {
            buffer = incoming
        }
        while buffer.readableBytes > 0 {
            if skip > 0 {
                let count = min(skip, buffer.readableBytes)
                if collected != nil {
                    var part = buffer.readSlice(length: count)!
                    collected!.writeBuffer(&part)
                } else {
                    buffer.moveReaderIndex(forwardBy: count)
                }
                skip -= count
                messageWireBytes += count
                if skip > 0 { break }
                if frameFin { try finishMessage(handle) }
                continue
            }
            guard buffer.readableBytes >= 2 else { break }
            let start = buffer.readerIndex
            let first = buffer.getInteger(at: start, as: UInt8.self)!
            let second = buffer.getInteger(at: start + 1, as: UInt8.self)!
            guard second & 0x80 == 0 else { throw LoadError("masked frame from the server") }
            let shortLength = Int(second & 0x7F)
            let extra = shortLength == 126 ? 2 : (shortLength == 127 ? 8 : 0)
            guard buffer.readableBytes >= 2 + extra else { break }
            let length: Int
            switch extra {
            case 0: length = shortLength
            case 2: length = Int(buffer.getInteger(at: start + 2, as: UInt16.self)!)
            default:
                let long = buffer.getInteger(at: start + 2, as: UInt64.self)!
                guard long < 1 << 40 else { throw LoadError("frame length \(long) from the server") }
                length = Int(long)
            }
            let opcode = first & 0x0F
            let fin = first & 0x80 != 0
            let reserved = first & 0x70
            if opcode >= 8 {
                guard fin, length <= 125, reserved == 0 else { throw LoadError("malformed control frame") }
                guard buffer.readableBytes >= 2 + extra + length else { break }
                buffer.moveReaderIndex(forwardBy: 2 + extra)
                var payload = buffer.readSlice(length: length)!
                switch opcode {
                case 0x8: try handle(.close(payload.readInteger(as: UInt16.self)))
                case 0x9: try handle(.ping(payload))
                case 0xA: try handle(.pong)
                default: throw LoadError("unknown control opcode \(opcode)")
                }
                continue
            }
            switch opcode {
            case 0x1, 0x2:
                guard !inMessage else { throw LoadError("new message inside a fragmented one") }
                messageCompressed = reserved & 0x40 != 0
                guard reserved & 0x30 == 0, !messageCompressed || allowCompression
                else { throw LoadError("reserved bits \(reserved >> 4) set without an extension") }
                inMessage = true
                messageWireBytes = 0
                if collectNextMessage {
                    collected = ByteBuffer()
                    collectNextMessage = false
                }
            case 0x0:
                guard inMessage, reserved == 0 else { throw LoadError("unexpected continuation frame") }
            default:
                throw LoadError("unknown data opcode \(opcode)")
            }
            buffer.moveReaderIndex(forwardBy: 2 + extra)
            skip = length
            frameFin = fin
            if length == 0 && fin { try finishMessage(handle) }
        }
        if buffer.readableBytes > 0 { pending = buffer }
    }

    private mutating func finishMessage(_ handle: (Event) throws -> Void) throws {
        let payload = collected
        collected = nil
        inMessage = false
        try handle(.message(compressed: messageCompressed, wireBytes: messageWireBytes, payload: payload))
    }
}
