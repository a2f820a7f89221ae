/// An error from an operation on a WebSocket connection.
public struct WebSocketError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Sendable, Hashable {
        case closing
        case closed(CloseOutcome?)
        case controlPayloadTooLong(Int)
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
            return "the connection is closed (\(outcome))"
        case .closed(nil):
            return "the connection is closed"
        case .controlPayloadTooLong(let length):
            return "a ping payload of \(length) bytes exceeds the 125 bytes of a control frame"
        }
    }
}
