/// A frame opcode (RFC 6455 §5.2). Opcodes 3–7 and 11–15 are reserved and never parsed.
public enum Opcode: UInt8, Sendable, Hashable {
    /// A continuation of a fragmented message.
    case continuation = 0x0
    /// The first frame of a text message (UTF-8).
    case text = 0x1
    /// The first frame of a binary message.
    case binary = 0x2
    /// A close frame: an optional code and a UTF-8 reason.
    case connectionClose = 0x8
    /// A ping, answered by a pong with the same payload.
    case ping = 0x9
    /// A pong, sent in answer to a ping or unsolicited as a heartbeat.
    case pong = 0xA

    /// Whether this is a control opcode (close, ping, pong), which RFC 6455 §5.5 limits to
    /// 125 bytes of payload and forbids to fragment.
    @inlinable
    public var isControl: Bool { rawValue & 0x8 != 0 }
}
