import NIOCore

/// What a server refuses to let clients do to it: the limits and timeouts that defend it against
/// slow, oversized, foreign or too many connections, in one value.
///
/// The same value configures the whole server (`WebSocketServerConfiguration/protections` in
/// `Holdfast`) and each connection's handshake (`ServerHandshakeSettings.protections` in
/// `HoldfastNIO`), so a protection has one name and one default wherever it is set.
public struct ServerProtections: Sendable, Hashable {
    /// How long a new connection may take to deliver its whole upgrade request (TLS handshake
    /// included), and the server to decide on it, before it is answered 408 Request Timeout and
    /// closed: the defence against clients that hold connections open by sending slowly
    /// (slow-loris). Default 10 s, ample for a real client on a slow network; `nil`: no limit.
    public var handshakeTimeout: TimeAmount?
    /// The most bytes an upgrade request's header fields may take together, and any one of them;
    /// a larger request gets 431 Request Header Fields Too Large. Default 32 KiB: room for large
    /// cookies and tokens, while bounding what a client can make the server buffer.
    public var maxHeaderSize: Int
    /// The most WebSocket connections open at once: a handshake over it gets 503 Service
    /// Unavailable with `Retry-After: 1` (and a connection that gets past the check while others
    /// complete on other threads is closed at once with 1013 Try Again Later). Default `nil`: no
    /// limit beyond the process's file descriptors.
    public var maxConnections: Int?
    /// Connections whose peer sends nothing (no message, ping or pong) for this long are closed
    /// with 1001 Going Away and the reason `nothing received for N s`; the time does not run
    /// while the server has stopped reading. Default `nil`: kept however quiet.
    public var idleTimeout: TimeAmount?
    /// The origins browsers may connect from (`Origin`, e.g. `https://example.com`, compared
    /// without regard to case); any other gets 403 Forbidden. A request without an `Origin` (not
    /// from a browser, which always sends one) is let through: the check protects against pages
    /// on other sites opening connections with the user's cookies. Default `nil`: every origin.
    public var allowedOrigins: [String]?

    /// The default handshake timeout, 10 s.
    public static let defaultHandshakeTimeout = TimeAmount.seconds(10)
    /// The default limit of the request's header fields, 32 KiB.
    public static let defaultMaxHeaderSize = 32 * 1024

    /// Creates protections; every parameter defaults as documented on its property.
    public init(handshakeTimeout: TimeAmount? = ServerProtections.defaultHandshakeTimeout,
                maxHeaderSize: Int = ServerProtections.defaultMaxHeaderSize, maxConnections: Int? = nil,
                idleTimeout: TimeAmount? = nil, allowedOrigins: [String]? = nil) {
        self.handshakeTimeout = handshakeTimeout
        self.maxHeaderSize = maxHeaderSize
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.allowedOrigins = allowedOrigins
    }

    /// Whether a request from `origin` (its `Origin` header, `nil` when absent) may connect.
    public func allows(origin: String?) -> Bool {
        guard let allowedOrigins, let origin else { return true }
        return allowedOrigins.contains { $0.lowercased() == origin.lowercased() }
    }
}
