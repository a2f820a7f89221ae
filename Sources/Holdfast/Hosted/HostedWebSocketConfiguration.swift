import HoldfastCore
import NIOCore

/// The settings of a ``HostedWebSocketServer``: those of ``WebSocketServerConfiguration`` that
/// still apply when a framework listens, speaks HTTP and runs the middleware (its own settings
/// cover the rest: address, TLS, header limits, the handshake's time).
public struct HostedWebSocketConfiguration: Sendable {
    /// Limits, timeouts, keepalive, compression and the outbound budget of every connection;
    /// its limits are announced in each `101` (`Holdfast-Max-*`).
    public var webSocket: WebSocketConfiguration
    /// How long a graceful shutdown waits for each connection's close handshake after sending it
    /// 1001. Default 5 s: within the frameworks' own shutdown time limits (Vapor's is 10 s).
    public var drainTimeout: TimeAmount
    /// The reason sent with 1001 on shutdown. Default `server shutting down`.
    public var shutdownReason: String
    /// When set, the 1001 closes of a shutdown are spread evenly over this window, each reason
    /// carrying the hint `retry in N ms` that the Holdfast client honours. Default 1 s: a
    /// framework's app is usually restarted with its clients on it.
    public var shutdownSpread: TimeAmount?
    /// The most connections open at once; an upgrade beyond it is answered 503 with
    /// `Retry-After`. Default `nil`: no limit.
    public var maxConnections: Int?
    /// Closes a connection that sends nothing for this long (1001 `idle`). Default `nil`.
    public var idleTimeout: TimeAmount?
    /// When set, an upgrade whose `Origin` is not listed is answered 403. Default `nil`: any.
    public var allowedOrigins: [String]?

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(webSocket: WebSocketConfiguration = .init(), drainTimeout: TimeAmount = .seconds(5),
                shutdownReason: String = "server shutting down", shutdownSpread: TimeAmount? = .seconds(1),
                maxConnections: Int? = nil, idleTimeout: TimeAmount? = nil, allowedOrigins: [String]? = nil) {
        self.webSocket = webSocket
        self.drainTimeout = drainTimeout
        self.shutdownReason = shutdownReason
        self.shutdownSpread = shutdownSpread
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.allowedOrigins = allowedOrigins
    }

    /// The protections that apply to connections a framework hands over.
    var protections: ServerProtections {
        ServerProtections(handshakeTimeout: nil, maxHeaderSize: ServerProtections.defaultMaxHeaderSize,
                          maxConnections: maxConnections, idleTimeout: idleTimeout, allowedOrigins: allowedOrigins)
    }
}
