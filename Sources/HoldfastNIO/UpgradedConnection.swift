import HoldfastCore
import NIOCore
import NIOHTTP1

/// An upgraded connection as the NIO layer hands it to the async API.
public struct UpgradedConnection: Sendable {
    /// The channel of the connection.
    public let channel: any Channel
    /// The connection's handler, usable on the channel's event loop.
    public let handler: NIOLoopBound<WebSocketChannelHandler>
    /// The received messages, paced by their consumer; `nil` for connections served on the
    /// event loop (see ``ServerHandshakeSettings/eventLoopDelivery``).
    public let inbound: WebSocketChannelHandler.Inbound?
    /// The upgrade request (server) or the request sent (client).
    public let request: UpgradeRequest
    /// The subprotocol both sides agreed on, if any.
    public let subprotocol: String?
    /// The headers of the server's `101` response.
    public let responseHeaders: HTTPHeaders
    /// The limits the peer announced (a Holdfast server announces its own to clients).
    public let peerLimits: AnnouncedLimits
    /// permessage-deflate as agreed in the handshake, if it was.
    public let compression: PerMessageDeflateParameters?
    /// Where tasks queue what they send; `nil` for connections served on the event loop.
    public let outbound: OutboundQueue?
}
