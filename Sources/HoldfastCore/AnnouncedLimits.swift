import NIOHTTP1

/// The limits a Holdfast server announces in its `101 Switching Protocols` response, so that a
/// client can fit what it sends to them instead of learning them from a 1009.
///
/// `Holdfast-Max-Message-Size` and `Holdfast-Max-Frame-Size` carry decimal byte counts.
public struct AnnouncedLimits: Sendable, Hashable {
    /// The header that announces the largest message accepted.
    public static let maxMessageSizeHeader = "Holdfast-Max-Message-Size"
    /// The header that announces the largest frame accepted.
    public static let maxFrameSizeHeader = "Holdfast-Max-Frame-Size"

    /// The largest message the peer accepts, if it said.
    public var maxMessageSize: Int?
    /// The largest frame payload the peer accepts, if it said.
    public var maxFrameSize: Int?

    /// Creates limits.
    public init(maxMessageSize: Int?, maxFrameSize: Int?) {
        self.maxMessageSize = maxMessageSize
        self.maxFrameSize = maxFrameSize
    }

    /// The limits a configuration enforces on received messages.
    public init(_ configuration: WebSocketConfiguration) {
        let message = configuration.effectiveMaxMessageSize
        self.init(maxMessageSize: message == Int.max ? nil : message,
                  maxFrameSize: configuration.effectiveMaxFrameSize)
    }

    /// Reads announced limits from response headers; a missing or malformed value is `nil`.
    public init(headers: HTTPHeaders) {
        func value(_ name: String) -> Int? {
            headers.first(name: name).flatMap { Int($0.filter { $0 != " " }) }.flatMap { $0 > 0 ? $0 : nil }
        }
        self.init(maxMessageSize: value(Self.maxMessageSizeHeader), maxFrameSize: value(Self.maxFrameSizeHeader))
    }

    /// Why a message of `size` bytes must not be sent to a peer that announced these limits:
    /// over its message limit it would only be refused with 1009, so it is refused here, with the
    /// words of that 1009. `nil` when it may be sent. The one check of a send against the peer's
    /// limit: the connection, the async API and the reconnecting client all ask it.
    public func refusal(ofMessageSize size: Int) -> WebSocketError? {
        guard let limit = maxMessageSize, size > limit else { return nil }
        return .messageTooBig(size: size, limit: limit, reason: CloseFrame.messageTooBigReason(limit: limit))
    }

    /// The headers announcing these limits.
    public var headers: HTTPHeaders {
        var headers = HTTPHeaders()
        if let maxMessageSize { headers.add(name: Self.maxMessageSizeHeader, value: String(maxMessageSize)) }
        if let maxFrameSize { headers.add(name: Self.maxFrameSizeHeader, value: String(maxFrameSize)) }
        return headers
    }
}
