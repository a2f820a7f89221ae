import NIOCore

/// A violation of RFC 6455 (or of a configured limit) by the peer, with the close code that the
/// RFC names for it and a reason to send in the close frame.
///
/// Every failure of a connection is mapped to a code in one place: where it is detected. The state
/// machine sends `code` and `reason` in its close frame and reports them to the application.
public struct WebSocketProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The close code to fail the connection with (1002, 1007, 1009, or 1013 for a peer that
    /// reads too slowly).
    public let code: CloseCode
    /// A short reason for the close frame, at most 123 bytes of UTF-8.
    public let reason: String

    /// Creates an error with the code to send and the reason to give.
    public init(code: CloseCode, reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(reason) (close \(code.rawValue))" }

    static func protocolError(_ reason: String) -> Self { Self(code: .protocolError, reason: reason) }

    static func invalidPayload(_ reason: String) -> Self { Self(code: .invalidFramePayloadData, reason: reason) }

    static func frameTooBig(limit: Int) -> Self {
        Self(code: .messageTooBig, reason: CloseFrame.frameTooBigReason(limit: limit))
    }

    static func messageTooBig(limit: Int) -> Self {
        Self(code: .messageTooBig, reason: CloseFrame.messageTooBigReason(limit: limit))
    }

    static func backlogExceeded(limit: Int) -> Self {
        Self(code: .tryAgainLater, reason: CloseFrame.backlogExceededReason(limit: limit))
    }

    static func readingStalled(after timeout: TimeAmount) -> Self {
        Self(code: .tryAgainLater, reason: CloseFrame.readingStalledReason(after: timeout))
    }
}
