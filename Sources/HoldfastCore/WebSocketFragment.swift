import NIOCore

/// One received frame's worth of a message, delivered before the message is complete
/// (``WebSocketConfiguration/ReceiveMode/fragments(maxMessageSize:)``).
///
/// Text fragments are validated as UTF-8 as they arrive, but a fragment may end inside a
/// character: decode the concatenation, not each fragment.
public struct WebSocketFragment: Sendable, Hashable, CustomStringConvertible {
    /// The kind of the message this fragment belongs to.
    public var kind: WebSocketMessage.Kind
    /// This fragment's bytes.
    public var data: ByteBuffer
    /// Whether this is the first fragment of its message.
    public var isFirst: Bool
    /// Whether this is the last fragment of its message.
    public var isFinal: Bool

    /// Creates a fragment.
    public init(kind: WebSocketMessage.Kind, data: ByteBuffer, isFirst: Bool, isFinal: Bool) {
        self.kind = kind
        self.data = data
        self.isFirst = isFirst
        self.isFinal = isFinal
    }

    public var description: String {
        "\(kind) fragment(\(data.readableBytes) bytes\(isFirst ? ", first" : "")\(isFinal ? ", final" : ""))"
    }
}
