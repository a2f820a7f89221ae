import NIOCore

/// The protocol settings of one connection, the same for servers and clients.
public struct WebSocketConfiguration: Sendable, Hashable {
    /// How received messages reach the application.
    public enum ReceiveMode: Sendable, Hashable {
        /// Each message is reassembled and delivered whole, within ``WebSocketConfiguration/maxMessageSize``.
        case messages
        /// Each frame's payload is delivered as a ``WebSocketFragment`` as soon as it arrives, so a
        /// message of any size passes with memory bounded by ``WebSocketConfiguration/maxFrameSize``.
        /// `maxMessageSize` bounds a whole streamed message (`nil`: no bound); it replaces the
        /// configuration's message limit.
        case fragments(maxMessageSize: Int?)
    }

    /// The largest message accepted, in bytes, after reassembly (and, with compression, after
    /// inflation). Default 1 MiB: enough for ordinary JSON and chat traffic while bounding what a
    /// single peer can make the endpoint buffer. A larger message is refused with 1009.
    public var maxMessageSize: Int
    /// The largest frame payload accepted, in bytes. Default `nil`: the message limit, since a
    /// frame is never larger than its message. A larger frame is refused from its header with 1009.
    public var maxFrameSize: Int?
    /// The largest frame payload this endpoint sends: longer messages go out as fragments.
    /// Default `nil`: no fragmentation of its own; a Holdfast client still fits its frames to the
    /// frame limit a Holdfast server announces.
    public var fragmentSize: Int?
    /// Whole messages (default) or fragments as they arrive.
    public var receiveMode: ReceiveMode
    /// How long to wait for the peer's part of the close handshake (its close frame, or for a
    /// client the server's TCP close) before the TCP connection is closed anyway. Default 10 s,
    /// long enough for a loaded peer on a slow link, short enough that dead peers do not pile up.
    public var closeTimeout: TimeAmount
    /// permessage-deflate (RFC 7692): offered by a client, accepted by a server. Default on, with
    /// memory-bounded settings (see ``PerMessageDeflateConfiguration``); `nil` turns it off.
    public var compression: PerMessageDeflateConfiguration?
    /// When set, a ping is sent this long after the last one was answered, and a connection whose
    /// peer does not answer within ``pongTimeout`` is taken for dead: its TCP connection is closed
    /// (the close is 1006, as no close frame could be exchanged). Keepalive pings also keep idle
    /// connections open through proxies and load balancers that drop quiet ones. Default `nil`:
    /// no pings of its own.
    public var pingInterval: TimeAmount?
    /// How long a keepalive ping waits for its pong. Default 10 s.
    public var pongTimeout: TimeAmount
    /// The outbound budget: the bytes that may wait to be written to a peer that reads slowly.
    /// A message sent while more than this waits is refused, and the connection is closed with
    /// 1013 Try Again Later and the reason `outbound backlog exceeds limit of N bytes (reading too
    /// slowly)`, so that one slow reader costs bounded memory and never slows the others. A
    /// single message of any size can always be queued on an empty backlog. Default 4 MiB: a few
    /// seconds of a busy feed; `nil`: no limit (only for peers you trust to read).
    public var maxBacklog: Int?

    /// One mebibyte, the default message limit.
    public static let defaultMaxMessageSize = 1 << 20

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(maxMessageSize: Int = defaultMaxMessageSize, maxFrameSize: Int? = nil, fragmentSize: Int? = nil,
                receiveMode: ReceiveMode = .messages, closeTimeout: TimeAmount = .seconds(10),
                compression: PerMessageDeflateConfiguration? = PerMessageDeflateConfiguration(),
                pingInterval: TimeAmount? = nil, pongTimeout: TimeAmount = .seconds(10),
                maxBacklog: Int? = defaultMaxBacklog) {
        self.maxMessageSize = maxMessageSize
        self.maxFrameSize = maxFrameSize
        self.fragmentSize = fragmentSize
        self.receiveMode = receiveMode
        self.closeTimeout = closeTimeout
        self.compression = compression
        self.pingInterval = pingInterval
        self.pongTimeout = pongTimeout
        self.maxBacklog = maxBacklog
    }

    /// Four mebibytes, the default outbound budget.
    public static let defaultMaxBacklog = 4 << 20

    /// The limit on a whole received message in force: ``maxMessageSize``, or in
    /// ``ReceiveMode/fragments(maxMessageSize:)`` the streamed limit (`Int.max` when unbounded).
    public var effectiveMaxMessageSize: Int {
        switch receiveMode {
        case .messages: return maxMessageSize
        case .fragments(let limit): return limit ?? Int.max
        }
    }

    /// The frame limit in force: ``maxFrameSize``, or the message limit when unset; never more
    /// than a whole message may be.
    public var effectiveMaxFrameSize: Int {
        switch receiveMode {
        case .messages: return min(maxFrameSize ?? maxMessageSize, maxMessageSize)
        case .fragments: return min(maxFrameSize ?? maxMessageSize, effectiveMaxMessageSize)
        }
    }
}
