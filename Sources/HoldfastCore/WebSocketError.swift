/// An error from an operation on a WebSocket connection.
public struct WebSocketError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Sendable, Hashable {
        case closing
        case closed(CloseOutcome?)
        case controlPayloadTooLong(Int)
        case messageTooBig(size: Int?, limit: Int?, reason: String)
        case incompleteStream
    }

    private let kind: Kind

    /// Sending is no longer allowed: a close frame was sent or received (RFC 6455 §5.5.1).
    public static let connectionClosing = WebSocketError(kind: .closing)

    /// The connection has ended, as described by `outcome` when known.
    public static func connectionClosed(_ outcome: CloseOutcome?) -> WebSocketError {
        WebSocketError(kind: .closed(outcome))
    }

    /// A ping payload over the 125 bytes a control frame can carry.
    public static func controlPayloadTooLong(_ length: Int) -> WebSocketError {
        WebSocketError(kind: .controlPayloadTooLong(length))
    }

    /// A message too big for the peer: refused by the peer with 1009 (carrying its reason and the
    /// limit the reason names), or not sent at all because it exceeds the limit the peer announced.
    /// Send less per message (chunk the payload) or have the peer's limit raised.
    public static func messageTooBig(size: Int? = nil, limit: Int?, reason: String) -> WebSocketError {
        WebSocketError(kind: .messageTooBig(size: size, limit: limit, reason: reason))
    }

    /// The source of a message sent fragment by fragment failed before its last fragment; the
    /// connection was closed with 1011, since a started message cannot be withdrawn.
    public static let incompleteStream = WebSocketError(kind: .incompleteStream)

    /// The peer's message limit, when this error reports a message too big and the limit is known.
    public var peerLimit: Int? {
        if case .messageTooBig(_, let limit, _) = kind { return limit }
        return nil
    }

    /// Whether this error reports a message too big for the peer (close code 1009).
    public var isMessageTooBig: Bool {
        if case .messageTooBig = kind { return true }
        return false
    }

    /// How the connection ended, when this error reports a closed connection.
    public var closeOutcome: CloseOutcome? {
        if case .closed(let outcome) = kind { return outcome }
        return nil
    }

    public var description: String {
        switch kind {
        case .closing:
            return "the connection is closing; no more messages can be sent"
        case .closed(let outcome?):
            return "the connection is closed: \(outcome)"
        case .closed(nil):
            return "the connection is closed"
        case .controlPayloadTooLong(let length):
            return "a ping payload of \(length) bytes exceeds the 125 bytes of a control frame"
        case .messageTooBig(let size?, let limit?, _):
            return "message of \(size) bytes exceeds the limit of \(limit) (close 1009)"
        case .messageTooBig(_, _, let reason):
            return "the peer refused a message as too big: \(reason) (close 1009)"
        case .incompleteStream:
            return "the message source failed before its last fragment; the connection was closed (close 1011)"
        }
    }
}
