import NIOCore

/// The protocol settings of one connection, the same for servers and clients.
public struct WebSocketConfiguration: Sendable, Hashable {
    /// The largest message accepted, in bytes, after reassembly (and, with compression, after
    /// inflation). Default 1 MiB: enough for ordinary JSON and chat traffic while bounding what a
    /// single peer can make the endpoint buffer. A larger message is refused with 1009.
    public var maxMessageSize: Int
    /// The largest frame payload accepted, in bytes. Default `nil`: the message limit, since a
    /// frame is never larger than its message. A larger frame is refused from its header with 1009.
    public var maxFrameSize: Int?
    /// How long to wait for the peer's part of the close handshake (its close frame, or for a
    /// client the server's TCP close) before the TCP connection is closed anyway. Default 10 s,
    /// long enough for a loaded peer on a slow link, short enough that dead peers do not pile up.
    public var closeTimeout: TimeAmount

    /// One mebibyte, the default message limit.
    public static let defaultMaxMessageSize = 1 << 20

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(maxMessageSize: Int = defaultMaxMessageSize, maxFrameSize: Int? = nil,
                closeTimeout: TimeAmount = .seconds(10)) {
        self.maxMessageSize = maxMessageSize
        self.maxFrameSize = maxFrameSize
        self.closeTimeout = closeTimeout
    }

    /// The frame limit in force: ``maxFrameSize``, or the message limit when unset.
    public var effectiveMaxFrameSize: Int { min(maxFrameSize ?? maxMessageSize, maxMessageSize) }
}
