import HoldfastCloseCodes
import HoldfastCore
import HoldfastNIO
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Holdfast WebSocket connections inside a server that is not Holdfast's: a framework
/// (Hummingbird, Vapor, your own NIO server) listens, speaks HTTP and runs its middleware; this
/// answers the upgrade requests it routes here and serves the connections it hands over, with
/// everything a ``WebSocketServer`` gives its own — limits before buffering, deflate,
/// keepalive, the outbound budget, statistics, and a graceful shutdown that sends 1001.
///
/// A framework adapter uses it in two steps:
/// 1. ``answer(_:remoteAddress:subprotocol:headers:configuration:)`` decides on a request the
///    framework's route accepted: a ``HostedUpgrade`` whose headers the framework writes in its
///    `101`, or the refusal to write instead (400, 403, 426, 503).
/// 2. Once the `101` is out and the framework's HTTP handlers have left the pipeline,
///    ``takeOver(_:upgrade:)`` (served by a task) or
///    ``takeOver(_:upgrade:handler:context:)`` (served on the event loop), called on the
///    connection's event loop, puts Holdfast's handler at the end of the channel's pipeline and
///    registers the connection.
///
/// Shutdown comes through the framework: NIO's `ChannelShouldQuiesceEvent`, which Hummingbird and
/// Vapor send to every connection when they shut down gracefully, starts ``beginShutdown()``;
/// as a swift-service-lifecycle `Service`, ``run()`` does the same on the service group's
/// graceful shutdown; ``shutdown()`` does it when called. Each open connection then gets 1001,
/// spread over ``HostedWebSocketConfiguration/shutdownSpread`` with a retry hint, and up to
/// ``HostedWebSocketConfiguration/drainTimeout`` for its close handshake; upgrades asked for
/// meanwhile are refused with 503.
public final class HostedWebSocketServer: Service, Sendable {
    /// The server's settings.
    public let configuration: HostedWebSocketConfiguration
    let logger: Logger
    let connections = ConnectionRegistry()
    let metrics = ServerMetrics()
    /// The handlers ``start(_:handler:)`` queues, run as children of ``run()``.
    let work = ServerWork()
    private let settings: ServerHandshakeSettings
    private let registration: ServerRun

    /// Creates a hosted server.
    /// - Parameters:
    ///   - configuration: the connections' limits and the shutdown's timing.
    ///   - logger: where connection failures and ends are logged; default `holdfast.hosted`.
    public init(configuration: HostedWebSocketConfiguration = .init(),
                logger: Logger = Logger(label: "holdfast.hosted")) {
        self.configuration = configuration
        self.logger = logger
        let metrics = self.metrics
        var settings = ServerHandshakeSettings(configuration: configuration.webSocket, shouldUpgrade: nil,
                                               logger: logger, trafficObserver: { metrics.observer(for: $0) })
        let spareOutputs = PerEventLoop { SpareOutputBuffer() }
        settings.spareOutput = { spareOutputs.value(for: $0) }
        settings.protections = configuration.protections
        let connections = self.connections
        settings.isDraining = { connections.isDraining }
        if let limit = configuration.maxConnections {
            settings.isFull = { connections.openCount >= limit }
        }
        self.settings = settings
        registration = ServerRun(connections: connections, metrics: metrics, logger: logger,
                                 drainReason: configuration.shutdownReason,
                                 maxConnections: configuration.maxConnections, work: work)
    }

    /// What ``answer(_:remoteAddress:subprotocol:headers:configuration:)`` made of a request.
    public enum Answer: Sendable {
        /// Upgrade: write a `101 Switching Protocols` with ``HostedUpgrade/responseHeaders``.
        case upgrade(HostedUpgrade)
        /// Do not: write this response (its reason in the body) and close the connection.
        case refuse(PlainHTTPResponse)
    }

    /// Decides on an upgrade request that the framework routed here, once its middleware has
    /// accepted it: refused when it is not a valid WebSocket upgrade (400 or 426, with the
    /// reason), its origin is not allowed (403), a shutdown has begun or the server is full (503
    /// with `Retry-After`); upgraded otherwise. Call from any thread or task.
    /// - Parameters:
    ///   - head: the request.
    ///   - remoteAddress: the client's address, for the logs and `UpgradeRequest.remoteAddress`.
    ///   - subprotocol: the subprotocol to select, if the client offers it.
    ///   - headers: headers to add to the `101`.
    ///   - configuration: this route's protocol settings; default the server's.
    public func answer(_ head: HTTPRequestHead, remoteAddress: SocketAddress?, subprotocol: String? = nil,
                       headers: HTTPHeaders = [:], configuration: WebSocketConfiguration? = nil) -> Answer {
        let request = UpgradeRequest(head: head, remoteAddress: remoteAddress)
        let key: String
        switch settings.check(head, request: request) {
        case .success(let validKey):
            key = validKey
        case .failure(let refusal):
            return .refuse(refusal.response)
        }
        return .upgrade(HostedUpgrade(accepted: AcceptedUpgrade(
            request: request, key: key, subprotocol: subprotocol, extraHeaders: headers,
            configuration: configuration ?? self.configuration.webSocket)))
    }

    /// Takes over a connection whose `101` is sent and whose HTTP handlers are gone, to be served
    /// by a task (``HostedConnection/serve(_:)`` or ``start(_:handler:)``). Call on the channel's
    /// event loop. A connection upgraded after a shutdown began, or past the connection limit, is
    /// closed (1001 or 1013) and still returned: its handler sees its messages end.
    public func takeOver(_ channel: any Channel, upgrade: HostedUpgrade) throws -> HostedConnection {
        let upgraded = upgrade.accepted.makeConnection(on: channel, settings: settings,
                                                       handover: ServerConnectionHandover())
        try install(upgraded)
        _ = registration.register(upgraded)
        return HostedConnection(upgraded: upgraded, logger: logger)
    }

    /// Takes over a connection whose `101` is sent and whose HTTP handlers are gone, to be served
    /// on its event loop by `handler` with `context` (what the framework's route established:
    /// the user, the request). Call on the channel's event loop. A connection upgraded after a
    /// shutdown began, or past the connection limit, is closed (1001 or 1013) and `handler`
    /// never hears of it.
    public func takeOver<Handler: WebSocketEventLoopHandler>(_ channel: any Channel, upgrade: HostedUpgrade,
                                                             handler: Handler, context: Handler.Context) throws {
        let handover = ServerConnectionHandover(beforeFirstFrame: { upgraded in
            EventLoopDelivery.install(handler, on: upgraded, context: context)
        })
        let upgraded = upgrade.accepted.makeConnection(on: channel, settings: settings, handover: handover)
        try install(upgraded)
        guard registration.register(upgraded) else { return }
        handler.connectionOpened(EventLoopConnection(upgraded, context: context))
    }

    /// Puts the connection's handler at the end of the pipeline, where the framework's HTTP
    /// handlers were, and starts it; a quiesce request from the framework starts the shutdown.
    private func install(_ upgraded: UpgradedConnection) throws {
        let handler = upgraded.handler.value
        handler.quiesceRequested = { [self] in beginShutdown() }
        try upgraded.channel.pipeline.syncOperations.addHandler(handler, name: "holdfast.websocket")
        handler.activate()
    }

    /// Serves `connection` with `handler` in a task of ``run()``: for frameworks whose upgrade
    /// ends in an event-loop callback (Vapor). Closes the connection with 1001 at once when
    /// ``run()`` has finished.
    public func start(_ connection: HostedConnection,
                      handler: @escaping @Sendable (WebSocket) async throws -> Void) {
        let started = work.start { await connection.serve(handler) }
        if !started {
            connection.upgraded.handler.beginClose(code: .goingAway, reason: configuration.shutdownReason,
                                                   timeout: configuration.drainTimeout, after: .zero)
        }
    }

    /// What the server has counted so far, as ``WebSocketServer/statistics`` (the same
    /// `holdfast_server_*` metrics are recorded).
    public var statistics: WebSocketServerStatistics { metrics.statistics }

    /// Sends 1001 to every open connection, spread over
    /// ``HostedWebSocketConfiguration/shutdownSpread`` when set, and refuses new upgrades (503).
    /// Returns at once; only the first call counts.
    public func beginShutdown() {
        guard let (_, open) = connections.beginDraining() else { return }
        logger.info("shutting down", metadata: ["connections": "\(open.count)"])
        WebSocketServer.sendGoingAway(to: open, reason: configuration.shutdownReason,
                                      spread: configuration.shutdownSpread, drainTimeout: configuration.drainTimeout)
    }

    /// Closes every connection's TCP at once, without a close handshake, and refuses new
    /// upgrades: what a cancelled ``run()`` does. A shutdown begun later sends nothing more.
    func abortAll() {
        _ = connections.beginDraining()
        connections.abortAll()
    }

    /// Shuts down gracefully (``beginShutdown()``) and returns, once every connection has ended
    /// (within the spread and the drain timeout), how those open at the start ended.
    @discardableResult
    public func shutdown() async -> ShutdownReport {
        beginShutdown()
        await connections.waitUntilNoneOpen()
        connections.finish(logger: logger)
        work.finish()
        return await connections.waitForReport()
    }

    /// Runs the handlers ``start(_:handler:)`` queues, until a shutdown has drained: the service
    /// group's graceful shutdown (or ``shutdown()``) sends every connection 1001. Cancelling it
    /// closes every connection's TCP at once.
    public func run() async throws {
        await withDiscardingTaskGroup { tasks in
            tasks.addTask {
                // Returns on the graceful shutdown; throws when cancelled: by the task group
                // below once `shutdown()` ended the work, or with `run()` itself.
                let cancelled = (try? await gracefulShutdown()) == nil
                if cancelled { self.abortAll() }
                _ = await self.shutdown()
            }
            while let job = await work.next() {
                tasks.addTask { await job() }
            }
            tasks.cancelAll()
        }
    }
}

/// An upgrade a ``HostedWebSocketServer`` accepted: the headers of the `101` the framework
/// writes, and what the connection will be.
public struct HostedUpgrade: Sendable {
    let accepted: AcceptedUpgrade

    /// The headers of the `101 Switching Protocols`: the accept key, the upgrade headers, the
    /// negotiated extension and subprotocol, and the announced limits (`Holdfast-Max-*`).
    public var responseHeaders: HTTPHeaders { accepted.responseHeaders }
    /// The request accepted.
    public var request: UpgradeRequest { accepted.request }
}

/// A connection a ``HostedWebSocketServer`` took over, to be served by a task.
public struct HostedConnection: Sendable {
    let upgraded: UpgradedConnection
    let logger: Logger

    /// The upgrade request.
    public var request: UpgradeRequest { upgraded.request }

    /// Serves the connection with `handler` in the calling task, then closes it: with 1000 when
    /// `handler` returned, 1011 when it threw, at once (TCP) when the task was cancelled; and
    /// awaits the close handshake.
    public func serve(_ handler: @Sendable (WebSocket) async throws -> Void) async {
        await WebSocketServer.serve(upgraded, context: (), handler: { webSocket, _ in try await handler(webSocket) },
                                    logger: logger)
    }
}
