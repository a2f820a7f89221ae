import NIOCore

/// A complete WebSocket message: text or binary data, reassembled from its frames.
///
/// The data stays in a `ByteBuffer` so that a message goes from the socket to the application (and
/// back out, for an echo) without being copied or converted; ``text`` decodes it on demand.
public struct WebSocketMessage: Sendable, Hashable, CustomStringConvertible {
    /// The two kinds of data frame (RFC 6455 §5.6).
    public enum Kind: Sendable, Hashable {
        /// UTF-8 text, validated on receipt.
        case text
        /// Arbitrary bytes.
        case binary
    }

    /// Whether the message is text or binary.
    public var kind: Kind
    /// The message's bytes; valid UTF-8 when `kind` is `.text` and the message was received.
    public var data: ByteBuffer

    /// Creates a message of `kind` carrying `data`. Text data must be UTF-8.
    public init(kind: Kind, data: ByteBuffer) {
        self.kind = kind
        self.data = data
    }

    /// A text message.
    public static func text(_ string: String) -> WebSocketMessage {
        WebSocketMessage(kind: .text, data: ByteBuffer(string: string))
    }

    /// A binary message.
    public static func binary(_ data: ByteBuffer) -> WebSocketMessage {
        WebSocketMessage(kind: .binary, data: data)
    }

    /// A binary message with a copy of `bytes`.
    public static func binary(_ bytes: some Sequence<UInt8>) -> WebSocketMessage {
        WebSocketMessage(kind: .binary, data: ByteBuffer(bytes: bytes))
    }

    /// The text of a text message; `nil` for a binary message.
    public var text: String? {
        kind == .text ? String(buffer: data) : nil
    }

    /// The opcode of the message's first frame.
    public var opcode: Opcode { kind == .text ? .text : .binary }

    public var description: String {
        switch kind {
        case .text: return "text(\(data.readableBytes) bytes)"
        case .binary: return "binary(\(data.readableBytes) bytes)"
        }
    }
}
