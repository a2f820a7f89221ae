import HoldfastCore
import NIOCore

/// How a server decides on upgrade requests, as its handshake handler runs the decision.
///
/// An accepted decision carries the ``ServerConnectionHandover`` of that connection, which
/// carries whatever the server's own decision learned (the user, the room) to where the
/// connection is served, typed, without this module knowing the type; `nil` takes the settings'
/// ``ServerHandshakeSettings/handover``.
public enum ServerUpgradeDecider: Sendable {
    /// Decides at once, on the connection's event loop, inside the handshake: no hop to another
    /// thread or task, the fast path. The function must not block.
    case immediate(@Sendable (UpgradeRequest) -> UpgradeDecision<ServerConnectionHandover?>)
    /// Decides later, e.g. in a task that looks up a session: the future may complete on any
    /// event loop. Meanwhile the connection stops reading (bytes after the request wait), and the
    /// handshake timeout still runs: a decision that comes too late is ignored, the client
    /// having had its 408. A failed future is answered 500 Internal Server Error.
    case deferred(@Sendable (UpgradeRequest, any EventLoop) -> EventLoopFuture<UpgradeDecision<ServerConnectionHandover?>>)
}

/// How a server takes over a connection it accepted: two functions the handshake handler calls
/// on the connection's event loop.
///
/// A server builds one for all its connections (``ServerHandshakeSettings/handover``), or one
/// per connection in its decision, capturing what the decision learned.
public struct ServerConnectionHandover: Sendable {
    /// When set, the connection is served on its event loop: no inbound sequence or outbound
    /// queue is made, and this is called with the upgraded connection before it reads its first
    /// frame, to install its callbacks (``WebSocketChannelHandler/deliverOnEventLoop(received:closed:)``).
    /// Default `nil`: served through ``UpgradedConnection/inbound`` and ``UpgradedConnection/outbound``.
    public var beforeFirstFrame: (@Sendable (UpgradedConnection) -> Void)?
    /// Called once the upgrade is complete (the WebSocket handler in place of the HTTP ones), just
    /// before the handshake's outcome future succeeds: where a server registers the connection
    /// and starts serving it. Default `nil`: nothing; the outcome future is all there is.
    public var upgraded: (@Sendable (UpgradedConnection) -> Void)?

    /// Creates a handover; both functions default to `nil` as documented on their properties.
    public init(beforeFirstFrame: (@Sendable (UpgradedConnection) -> Void)? = nil,
                upgraded: (@Sendable (UpgradedConnection) -> Void)? = nil) {
        self.beforeFirstFrame = beforeFirstFrame
        self.upgraded = upgraded
    }
}
