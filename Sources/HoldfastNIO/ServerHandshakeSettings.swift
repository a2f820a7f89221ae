import HoldfastCore
import Logging
import NIOCore

/// The settings a server applies to each connection's handshake.
public struct ServerHandshakeSettings: Sendable {
    /// The protocol settings of upgraded connections.
    public var configuration: WebSocketConfiguration
    /// Decides whether to accept each upgrade (see ``ServerUpgradeDecider``); accepts all when
    /// `nil`.
    public var decider: ServerUpgradeDecider?
    /// Answers requests that ask for no upgrade; `nil` (or a `nil` answer) gives 426 Upgrade
    /// Required, which tells a browser this is a WebSocket endpoint.
    public var plainHTTP: (@Sendable (UpgradeRequest) -> PlainHTTPResponse?)?
    /// Whether the server is shutting down: a handshake completing then gets 503.
    public var isDraining: @Sendable () -> Bool
    /// How accepted connections are taken over when their decision names no handover of its
    /// own. Default: served through inbound sequences and outbound queues, nothing called.
    public var handover = ServerConnectionHandover()
    /// Where handshake failures are logged.
    public var logger: Logger
    /// Gives each upgraded connection the observer that counts its traffic, called on the
    /// connection's event loop (so a server can keep one set of counters per event loop).
    /// Default `nil`: nothing is counted.
    public var trafficObserver: (@Sendable (any EventLoop) -> any WebSocketTrafficObserver)?
    /// Gives each upgraded connection the output memory its event loop's connections share
    /// (``SpareOutputBuffer``), called on the connection's event loop: return the same instance
    /// for every connection of a loop. Default `nil`: each batch allocates its buffer.
    public var spareOutput: (@Sendable (any EventLoop) -> SpareOutputBuffer)?
    /// The server's protections: the handshake timeout, the header size limit, the allowed
    /// origins and the idle timeout apply to each connection here. (The connection limit is
    /// the server's to count: see ``isFull``.) Default: `ServerProtections`' defaults.
    public var protections = ServerProtections()
    /// Whether the server holds as many connections as it takes: a handshake completing then
    /// gets 503 Service Unavailable with `Retry-After`. Default: never full.
    public var isFull: @Sendable () -> Bool = { false }

    /// ``ServerConnectionHandover/beforeFirstFrame`` of ``handover``: when set, connections are
    /// served on their event loop, and this installs each one's callbacks.
    public var eventLoopDelivery: (@Sendable (UpgradedConnection) -> Void)? {
        get { handover.beforeFirstFrame }
        set { handover.beforeFirstFrame = newValue }
    }

    /// Creates handshake settings.
    /// - Parameters:
    ///   - configuration: the protocol settings of upgraded connections.
    ///   - shouldUpgrade: decides at once, on the event loop (``ServerUpgradeDecider/immediate(_:)``);
    ///     `nil` accepts every valid request.
    ///   - isDraining: whether the server is shutting down; default never.
    ///   - eventLoopDelivery: see ``eventLoopDelivery``; default `nil`, served by tasks.
    ///   - plainHTTP: see ``plainHTTP``; default `nil`, 426 for every plain request.
    ///   - logger: where handshake failures are logged.
    ///   - trafficObserver: see ``trafficObserver``; default `nil`, nothing counted.
    public init(configuration: WebSocketConfiguration,
                shouldUpgrade: (@Sendable (UpgradeRequest) -> UpgradeDecision<Void>)?,
                isDraining: @escaping @Sendable () -> Bool = { false },
                eventLoopDelivery: (@Sendable (UpgradedConnection) -> Void)? = nil,
                plainHTTP: (@Sendable (UpgradeRequest) -> PlainHTTPResponse?)? = nil, logger: Logger,
                trafficObserver: (@Sendable (any EventLoop) -> any WebSocketTrafficObserver)? = nil) {
        self.trafficObserver = trafficObserver
        self.plainHTTP = plainHTTP
        self.configuration = configuration
        self.decider = shouldUpgrade.map { decide in .immediate { decide($0).map { _ in nil } } }
        self.isDraining = isDraining
        self.handover = ServerConnectionHandover(beforeFirstFrame: eventLoopDelivery)
        self.logger = logger
    }
}
