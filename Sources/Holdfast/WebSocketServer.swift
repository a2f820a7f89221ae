import HoldfastCloseCodes
import HoldfastCore
import HoldfastNIO
import Logging
import NIOCore
import ServiceLifecycle

/// A WebSocket server: it listens, upgrades each valid request, and runs `handler` for every
/// connection in a task of its own, inside ``run()``.
///
/// ```swift
/// let server = WebSocketServer(configuration: .init(port: 8080)) { ws in
///     for await message in ws.messages { try await ws.send(message) }
/// }
/// try await server.run()
/// ```
/// One connection's error never affects another. When the handler returns, the connection is
/// closed with 1000 (1011 if it threw), and the close handshake is awaited.
///
/// For the most throughput per core, serve connections on their event loops instead, with
/// ``init(configuration:logger:eventLoopHandler:)`` and a ``WebSocketEventLoopHandler``: no
/// task per connection, no thread hop per message; the handler must not block.
///
/// An upgrade decision may look something up (a session, a token) and hand what it found to the
/// handler, typed, so the handler does not parse the request again:
///
/// ```swift
/// let server = WebSocketServer(configuration: .init(port: 8080), shouldUpgrade: { request async throws -> UpgradeDecision<User> in
///     guard let token = request.headers.first(name: "authorization"),
///           let user = try await sessions.user(forToken: token) else {
///         return .reject(status: .unauthorized, reason: "unknown token")
///     }
///     return .accept(user)
/// }) { ws, user in
///     for await message in ws.messages { try await ws.send(.text("\(user.name): \(message.text ?? "")")) }
/// }
/// ```
/// While an `async` decision runs, the connection reads nothing more and the handshake timeout
/// still runs (408 when it passes); a decision that throws is answered 500. A decision that is
/// not `async` runs on the event loop inside the handshake, with no hop to a task.
///
/// The server is a swift-service-lifecycle `Service`: a graceful shutdown (``shutdown()``, or the
/// service group's, e.g. on SIGTERM) stops accepting at once — a handshake in progress gets
/// 503 — sends 1001 to every open connection, delivers what arrives before each peer's close
/// answer, waits up to the drain timeout, then closes what is left. Cancelling ``run()`` closes
/// every TCP connection at once.
public final class WebSocketServer: Service, Sendable {
    /// The server's settings.
    public let configuration: WebSocketServerConfiguration
    let logger: Logger
    let handling: ConnectionHandling
    let listening = ListeningState()
    let connections = ConnectionRegistry()
    let metrics = ServerMetrics()

    /// Creates a server.
    /// - Parameters:
    ///   - configuration: where to listen and what to accept.
    ///   - logger: where connection failures are logged; default a logger labelled `holdfast.server`.
    ///   - handler: runs once per upgraded connection.
    public init(configuration: WebSocketServerConfiguration = .init(),
                logger: Logger = Logger(label: "holdfast.server"),
                handler: @escaping @Sendable (WebSocket) async throws -> Void) {
        self.configuration = configuration
        self.logger = logger
        self.handling = .tasks(decision: Self.decision(of: configuration), sharedContext: ()) { webSocket, _ in
            try await handler(webSocket)
        }
    }

    /// Creates a server whose connections are served on their event loops by `eventLoopHandler`.
    /// - Parameters:
    ///   - configuration: where to listen and what to accept.
    ///   - logger: where connection failures are logged; default a logger labelled `holdfast.server`.
    ///   - eventLoopHandler: gets every connection's events, on its event loop.
    public init<Handler: WebSocketEventLoopHandler>(configuration: WebSocketServerConfiguration = .init(),
                                                    logger: Logger = Logger(label: "holdfast.server"),
                                                    eventLoopHandler: Handler) where Handler.Context == Void {
        self.configuration = configuration
        self.logger = logger
        self.handling = .eventLoop(decision: Self.decision(of: configuration), sharedContext: (),
                                   handler: eventLoopHandler)
    }

    /// Creates a server whose upgrade decision hands a context to each connection's handler:
    /// the decision runs on the connection's event loop, inside the handshake (no task hop), so it
    /// must not block. ``WebSocketServerConfiguration/shouldUpgrade`` and
    /// ``WebSocketServerConfiguration/subprotocols`` are not used: this decision decides.
    /// - Parameters:
    ///   - configuration: where to listen, and the limits.
    ///   - logger: where connection failures are logged; default a logger labelled `holdfast.server`.
    ///   - shouldUpgrade: accepts with a context (`UpgradeDecision/accept(_:subprotocol:headers:configuration:)`)
    ///     or rejects with an HTTP status.
    ///   - handler: runs once per upgraded connection, with its decision's context.
    public init<Context: Sendable>(configuration: WebSocketServerConfiguration = .init(),
                                   logger: Logger = Logger(label: "holdfast.server"),
                                   shouldUpgrade: @escaping @Sendable (UpgradeRequest) -> UpgradeDecision<Context>,
                                   handler: @escaping @Sendable (WebSocket, Context) async throws -> Void) {
        self.configuration = configuration
        self.logger = logger
        self.handling = .tasks(decision: .sync(shouldUpgrade), sharedContext: nil, handler: handler)
    }

    /// Creates a server whose `async` upgrade decision (a session or token lookup) hands a
    /// context to each connection's handler. The decision runs in a task of the server, as a
    /// child of ``run()``; meanwhile the connection reads nothing more, and the handshake timeout
    /// still runs: past it the client gets 408 and the decision's answer is dropped. A decision
    /// that throws is answered 500 Internal Server Error. ``WebSocketServerConfiguration/shouldUpgrade``
    /// and ``WebSocketServerConfiguration/subprotocols`` are not used: this decision decides.
    /// - Parameters:
    ///   - configuration: where to listen, and the limits.
    ///   - logger: where connection failures are logged; default a logger labelled `holdfast.server`.
    ///   - shouldUpgrade: accepts with a context (`UpgradeDecision/accept(_:subprotocol:headers:configuration:)`)
    ///     or rejects with an HTTP status.
    ///   - handler: runs once per upgraded connection, with its decision's context.
    public init<Context: Sendable>(configuration: WebSocketServerConfiguration = .init(),
                                   logger: Logger = Logger(label: "holdfast.server"),
                                   shouldUpgrade: @escaping @Sendable (UpgradeRequest) async throws -> UpgradeDecision<Context>,
                                   handler: @escaping @Sendable (WebSocket, Context) async throws -> Void) {
        self.configuration = configuration
        self.logger = logger
        self.handling = .tasks(decision: .async(shouldUpgrade), sharedContext: nil, handler: handler)
    }

    /// Creates a server whose connections are served on their event loops by `eventLoopHandler`,
    /// each with the context its upgrade decision handed over (``EventLoopConnection/context``).
    /// The decision runs on the connection's event loop, inside the handshake, so it must not
    /// block. ``WebSocketServerConfiguration/shouldUpgrade`` and
    /// ``WebSocketServerConfiguration/subprotocols`` are not used: this decision decides.
    /// - Parameters:
    ///   - configuration: where to listen, and the limits.
    ///   - logger: where connection failures are logged; default a logger labelled `holdfast.server`.
    ///   - shouldUpgrade: accepts with the handler's context, or rejects with an HTTP status.
    ///   - eventLoopHandler: gets every connection's events, on its event loop.
    public init<Handler: WebSocketEventLoopHandler>(
        configuration: WebSocketServerConfiguration = .init(), logger: Logger = Logger(label: "holdfast.server"),
        shouldUpgrade: @escaping @Sendable (UpgradeRequest) -> UpgradeDecision<Handler.Context>,
        eventLoopHandler: Handler
    ) {
        self.configuration = configuration
        self.logger = logger
        self.handling = .eventLoop(decision: .sync(shouldUpgrade), sharedContext: nil, handler: eventLoopHandler)
    }

    /// Creates a server whose connections are served on their event loops by `eventLoopHandler`,
    /// each with the context its `async` upgrade decision handed over. The decision runs in a
    /// task of the server while the connection waits, as for a task-served server's `async`
    /// decision (reads held, the handshake timeout running, 500 for a throw); the handler's
    /// callbacks then run on the event loop as ever.
    /// - Parameters:
    ///   - configuration: where to listen, and the limits.
    ///   - logger: where connection failures are logged; default a logger labelled `holdfast.server`.
    ///   - shouldUpgrade: accepts with the handler's context, or rejects with an HTTP status.
    ///   - eventLoopHandler: gets every connection's events, on its event loop.
    public init<Handler: WebSocketEventLoopHandler>(
        configuration: WebSocketServerConfiguration = .init(), logger: Logger = Logger(label: "holdfast.server"),
        shouldUpgrade: @escaping @Sendable (UpgradeRequest) async throws -> UpgradeDecision<Handler.Context>,
        eventLoopHandler: Handler
    ) {
        self.configuration = configuration
        self.logger = logger
        self.handling = .eventLoop(decision: .async(shouldUpgrade), sharedContext: nil, handler: eventLoopHandler)
    }

    /// The configuration's own decision: its ``WebSocketServerConfiguration/shouldUpgrade``, or
    /// the first of its ``WebSocketServerConfiguration/subprotocols`` the client offers.
    private static func decision(of configuration: WebSocketServerConfiguration) -> ServerDecision<Void>? {
        if let shouldUpgrade = configuration.shouldUpgrade { return .sync(shouldUpgrade) }
        let supported = configuration.subprotocols
        guard !supported.isEmpty else { return nil }
        return .sync { request in
            .accept(subprotocol: supported.first(where: request.offeredSubprotocols.contains))
        }
    }

    /// The address the server listens on, once it does; waits until then. Throws if ``run()``
    /// failed to bind.
    public var listeningAddress: SocketAddress {
        get async throws { try await listening.wait() }
    }

    /// What the server has counted so far: open and total connections, data messages and payload
    /// bytes in each direction, and closes by code — cheap to read, from any thread.
    ///
    /// The same events are recorded with swift-metrics (a no-op until a backend is
    /// bootstrapped): `holdfast_server_connections` (a meter of open connections),
    /// `holdfast_server_connections_total`, `holdfast_server_messages_total` and
    /// `holdfast_server_bytes_total` (dimension `direction`: `received` or `sent`), and
    /// `holdfast_server_closes_total` (dimensions `code` and `name`). Each close is also logged with
    /// its code's name: at debug level for 1000 and 1001, at info level for the others.
    public var statistics: WebSocketServerStatistics { metrics.statistics }

    /// Shuts down gracefully (see the type's documentation) and returns how the connections that
    /// were open ended, once ``run()`` has finished.
    @discardableResult
    public func shutdown() async -> ShutdownReport {
        beginShutdown()
        return await connections.waitForReport()
    }

    /// Waits until ``run()`` has finished, and returns how a graceful shutdown, if there was one,
    /// ended for the connections then open.
    public func stopped() async -> ShutdownReport {
        await connections.waitForReport()
    }

    /// Listens and serves until a graceful shutdown has drained, until cancelled, or until the
    /// listening socket fails.
    public func run() async throws {
        defer { connections.finish(logger: logger) }
        try await withGracefulShutdownHandler {
            try await runOnEventLoops()
        } onGracefulShutdown: {
            self.beginShutdown()
        }
    }

    /// Stops accepting and sends 1001 to every open connection, spread over
    /// ``WebSocketServerConfiguration/shutdownSpread`` when set. Returns at once.
    func beginShutdown() {
        guard let (listener, open) = connections.beginDraining() else { return }
        logger.info("shutting down", metadata: ["connections": "\(open.count)"])
        listener?.close(promise: nil)
        Self.sendGoingAway(to: open, reason: configuration.shutdownReason, spread: configuration.shutdownSpread,
                           drainTimeout: configuration.drainTimeout)
    }

    /// Sends 1001 with `reason` to each of `open`, spread evenly over `spread` when set (each
    /// reason then carries the hint `retry in N ms`, N the spread); each close handshake gets
    /// `drainTimeout`.
    static func sendGoingAway(to open: [NIOLoopBound<WebSocketChannelHandler>], reason: String, spread: TimeAmount?,
                              drainTimeout: TimeAmount) {
        for (index, connection) in open.enumerated() {
            var reasonSent = reason
            var delay = TimeAmount.zero
            if let spread {
                reasonSent = CloseFrame.reason(reason, retryIn: .nanoseconds(spread.nanoseconds))
                delay = .nanoseconds(spread.nanoseconds * Int64(index) / Int64(max(1, open.count)))
            }
            connection.beginClose(code: .goingAway, reason: reasonSent, timeout: drainTimeout, after: delay)
        }
    }
}
