import HoldfastCore
import NIOCore

/// The settings of a ``WebSocketServer``.
public struct WebSocketServerConfiguration: Sendable {
    /// The address to listen on. Default `127.0.0.1`: nothing is exposed beyond the machine until
    /// asked for (`0.0.0.0` or `::` listen on every interface).
    public var host: String
    /// The TCP port. Default 8080; 0 picks a free port (see ``WebSocketServer/listeningAddress``).
    public var port: Int
    /// Limits and timeouts of every connection.
    public var webSocket: WebSocketConfiguration
    /// Subprotocols the server speaks, in its order of preference; the first the client also
    /// offers is selected. Default none. Ignored when ``shouldUpgrade`` decides instead.
    public var subprotocols: [String]
    /// Decides on each upgrade request (path, query, headers, origin): accept, possibly with a
    /// subprotocol and extra headers, or reject with an HTTP status. Runs on the connection's
    /// event loop, so it must not block. Default `nil`: accept every valid request. A server
    /// made with an upgrade decision of its own (`WebSocketServer(configuration:shouldUpgrade:handler:)`,
    /// which may be `async` and hand a context to the handler) ignores this and ``subprotocols``.
    public var shouldUpgrade: (@Sendable (UpgradeRequest) -> UpgradeDecision<Void>)?
    /// Answers ordinary HTTP requests (no upgrade), e.g. a status page at `/`; runs on the
    /// event loop and must not block. Default `nil`, or a `nil` answer: 426 Upgrade Required.
    public var plainHTTP: (@Sendable (UpgradeRequest) -> PlainHTTPResponse?)?
    /// Event-loop threads. Default `nil`: the shared group with one thread per core.
    public var threads: Int?
    /// The listen backlog. Default 256, enough for bursts of reconnecting clients.
    public var backlog: Int32
    /// How long a graceful shutdown waits for each connection's close handshake after sending it
    /// 1001. Default 10 s: time for a busy client to finish what it is sending and answer.
    public var drainTimeout: TimeAmount
    /// The reason sent with 1001 on shutdown. Default `server shutting down`.
    public var shutdownReason: String
    /// When set, the 1001 closes of a shutdown are spread evenly over this window instead of
    /// sent at once, and each reason carries the hint `retry in N ms` (N: the window) that the
    /// Holdfast client honours — so thousands of clients do not reconnect in the same
    /// millisecond. Default `nil`: all at once, no hint.
    public var shutdownSpread: TimeAmount?
    /// TLS for `wss://` (and `https://` for ``plainHTTP``'s pages): every connection begins with
    /// a TLS handshake, whichever way connections are handled. Default `nil`: plain `ws://`, for
    /// loopback or behind a proxy that terminates TLS.
    public var tls: WebSocketServerTLS?
    /// What the server refuses to let clients do to it: the handshake timeout, the header size
    /// limit, the connection limit, the idle timeout and the allowed origins. Default
    /// `ServerProtections`' defaults: a 10 s handshake timeout and 32 KiB of headers.
    public var protections: ServerProtections

    /// `ServerProtections/handshakeTimeout` of ``protections``.
    public var handshakeTimeout: TimeAmount? {
        get { protections.handshakeTimeout }
        set { protections.handshakeTimeout = newValue }
    }
    /// `ServerProtections/maxHeaderSize` of ``protections``.
    public var maxHandshakeHeaderSize: Int {
        get { protections.maxHeaderSize }
        set { protections.maxHeaderSize = newValue }
    }
    /// `ServerProtections/maxConnections` of ``protections``.
    public var maxConnections: Int? {
        get { protections.maxConnections }
        set { protections.maxConnections = newValue }
    }
    /// `ServerProtections/idleTimeout` of ``protections``.
    public var idleTimeout: TimeAmount? {
        get { protections.idleTimeout }
        set { protections.idleTimeout = newValue }
    }
    /// `ServerProtections/allowedOrigins` of ``protections``.
    public var allowedOrigins: [String]? {
        get { protections.allowedOrigins }
        set { protections.allowedOrigins = newValue }
    }

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(host: String = "127.0.0.1", port: Int = 8080, webSocket: WebSocketConfiguration = .init(),
                subprotocols: [String] = [],
                shouldUpgrade: (@Sendable (UpgradeRequest) -> UpgradeDecision<Void>)? = nil,
                plainHTTP: (@Sendable (UpgradeRequest) -> PlainHTTPResponse?)? = nil,
                threads: Int? = nil, backlog: Int32 = 256, drainTimeout: TimeAmount = .seconds(10),
                shutdownReason: String = "server shutting down", shutdownSpread: TimeAmount? = nil,
                tls: WebSocketServerTLS? = nil, protections: ServerProtections) {
        self.host = host
        self.port = port
        self.webSocket = webSocket
        self.subprotocols = subprotocols
        self.shouldUpgrade = shouldUpgrade
        self.plainHTTP = plainHTTP
        self.threads = threads
        self.backlog = backlog
        self.drainTimeout = drainTimeout
        self.shutdownReason = shutdownReason
        self.shutdownSpread = shutdownSpread
        self.tls = tls
        self.protections = protections
    }

    /// Creates a configuration with the protections given one by one, as before they were one
    /// value (``protections``); every parameter defaults as documented on its property.
    public init(host: String = "127.0.0.1", port: Int = 8080, webSocket: WebSocketConfiguration = .init(),
                subprotocols: [String] = [],
                shouldUpgrade: (@Sendable (UpgradeRequest) -> UpgradeDecision<Void>)? = nil,
                plainHTTP: (@Sendable (UpgradeRequest) -> PlainHTTPResponse?)? = nil,
                threads: Int? = nil, backlog: Int32 = 256, drainTimeout: TimeAmount = .seconds(10),
                shutdownReason: String = "server shutting down", shutdownSpread: TimeAmount? = nil,
                tls: WebSocketServerTLS? = nil,
                handshakeTimeout: TimeAmount? = ServerProtections.defaultHandshakeTimeout,
                maxHandshakeHeaderSize: Int = ServerProtections.defaultMaxHeaderSize, maxConnections: Int? = nil,
                idleTimeout: TimeAmount? = nil, allowedOrigins: [String]? = nil) {
        self.init(host: host, port: port, webSocket: webSocket, subprotocols: subprotocols,
                  shouldUpgrade: shouldUpgrade, plainHTTP: plainHTTP, threads: threads, backlog: backlog,
                  drainTimeout: drainTimeout, shutdownReason: shutdownReason, shutdownSpread: shutdownSpread,
                  tls: tls, protections: ServerProtections(
                      handshakeTimeout: handshakeTimeout, maxHeaderSize: maxHandshakeHeaderSize,
                      maxConnections: maxConnections, idleTimeout: idleTimeout, allowedOrigins: allowedOrigins))
    }
}
