import HoldfastCore
import NIOCore
import NIOHTTP1

/// An upgrade request a server accepted: what its `101 Switching Protocols` carries, and how the
/// connection is made once it is sent. The one place where an accepted request becomes a
/// connection, for Holdfast's own handshake and for a framework's that hands the upgrade over.
public struct AcceptedUpgrade: Sendable {
    /// The request accepted.
    public let request: UpgradeRequest
    /// The subprotocol selected: the decision's, when the client offered it.
    public let subprotocol: String?
    /// permessage-deflate as negotiated, if it was.
    public let compression: PerMessageDeflateParameters?
    /// The protocol settings of the connection.
    public let configuration: WebSocketConfiguration
    /// The headers of the `101` response: the accept key, the upgrade headers, the negotiated
    /// extension and subprotocol, the announced limits (`Holdfast-Max-*`) and the decision's own.
    public let responseHeaders: HTTPHeaders

    /// Accepts `request`, whose `Sec-WebSocket-Key` is `key` (`ServerHandshake.validate`).
    /// - Parameters:
    ///   - request: the valid upgrade request.
    ///   - key: its `Sec-WebSocket-Key`, which the `101`'s accept value answers.
    ///   - subprotocol: the decision's subprotocol; selected only when the client offered it.
    ///   - extraHeaders: headers the decision adds to the `101`.
    ///   - configuration: the connection's protocol settings; its limits are announced.
    public init(request: UpgradeRequest, key: String, subprotocol: String?, extraHeaders: HTTPHeaders,
                configuration: WebSocketConfiguration) {
        let selected = subprotocol.flatMap { request.offeredSubprotocols.contains($0) ? $0 : nil }
        var announced = AnnouncedLimits(configuration).headers
        announced.add(contentsOf: extraHeaders)
        let negotiated = ServerHandshake.negotiateCompression(request.headers, configuration: configuration)
        self.request = request
        self.subprotocol = selected
        self.compression = negotiated?.parameters
        self.configuration = configuration
        self.responseHeaders = ServerHandshake.responseHeaders(key: key, subprotocol: selected,
                                                               extensions: negotiated?.response,
                                                               extraHeaders: announced)
    }

    /// Makes the connection's handler, set up by `settings` (counters, shared output memory,
    /// idle timeout), and the connection served as `handover` says: on the event loop (its
    /// `beforeFirstFrame` is called here) or through an inbound sequence and an outbound queue.
    /// Call on `channel`'s event loop; the caller then puts the handler in the pipeline,
    /// activates it, and calls the handover's `upgraded`.
    public func makeConnection(on channel: any Channel, settings: ServerHandshakeSettings,
                               handover: ServerConnectionHandover) -> UpgradedConnection {
        let eventLoop = channel.eventLoop
        let handler = WebSocketChannelHandler(role: .server, configuration: configuration, compression: compression,
                                              eventLoop: eventLoop, logger: settings.logger)
        handler.trafficObserver = settings.trafficObserver?(eventLoop)
        handler.spareOutput = settings.spareOutput?(eventLoop)
        if let idleTimeout = settings.protections.idleTimeout { handler.closeWhenIdle(for: idleTimeout) }
        let onEventLoop = handover.beforeFirstFrame
        let upgraded = UpgradedConnection(
            channel: channel, handler: NIOLoopBound(handler, eventLoop: eventLoop),
            inbound: onEventLoop == nil ? handler.makeInboundSequence() : nil, request: request,
            subprotocol: subprotocol, responseHeaders: responseHeaders, peerLimits: handler.peerLimits,
            compression: compression, outbound: onEventLoop == nil ? handler.makeOutboundQueue() : nil)
        onEventLoop?(upgraded)
        return upgraded
    }
}
