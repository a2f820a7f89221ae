import HoldfastCore
import HoldfastNIO
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

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
    /// event loop, so it must not block. Default `nil`: accept every valid request.
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
    /// ``ServerProtections``' defaults: a 10 s handshake timeout and 32 KiB of headers.
    public var protections: ServerProtections

    /// ``ServerProtections/handshakeTimeout`` of ``protections``.
    public var handshakeTimeout: TimeAmount? {
        get { protections.handshakeTimeout }
        set { protections.handshakeTimeout = newValue }
    }
    /// ``ServerProtections/maxHeaderSize`` of ``protections``.
    public var maxHandshakeHeaderSize: Int {
        get { protections.maxHeaderSize }
        set { protections.maxHeaderSize = newValue }
    }
    /// ``ServerProtections/maxConnections`` of ``protections``.
    public var maxConnections: Int? {
        get { protections.maxConnections }
        set { protections.maxConnections = newValue }
    }
    /// ``ServerProtections/idleTimeout`` of ``protections``.
    public var idleTimeout: TimeAmount? {
        get { protections.idleTimeout }
        set { protections.idleTimeout = newValue }
    }
    /// ``ServerProtections/allowedOrigins`` of ``protections``.
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
/// The server is a swift-service-lifecycle `Service`: a graceful shutdown (``shutdown()``, or the
/// service group's, e.g. on SIGTERM) stops accepting at once — a handshake in progress gets
/// 503 — sends 1001 to every open connection, delivers what arrives before each peer's close
/// answer, waits up to the drain timeout, then closes what is left. Cancelling ``run()`` closes
/// every TCP connection at once.
public final class WebSocketServer: Service, Sendable {
    /// The server's settings.
    public let configuration: WebSocketServerConfiguration
    private let logger: Logger
    private let handling: Handling
    private let listening = ListeningState()
    private let connections = ConnectionRegistry()
    private let metrics = ServerMetrics()

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
        self.handling = .tasks(handler)
    }

    /// Creates a server whose connections are served on their event loops by `eventLoopHandler`.
    /// - Parameters:
    ///   - configuration: where to listen and what to accept.
    ///   - logger: where connection failures are logged; default a logger labelled `holdfast.server`.
    ///   - eventLoopHandler: gets every connection's events, on its event loop.
    public init(configuration: WebSocketServerConfiguration = .init(),
                logger: Logger = Logger(label: "holdfast.server"),
                eventLoopHandler: any WebSocketEventLoopHandler) {
        self.configuration = configuration
        self.logger = logger
        self.handling = .eventLoop(eventLoopHandler)
    }

    /// How connections are handled: a task each, or callbacks on their event loops.
    private enum Handling: Sendable {
        case tasks(@Sendable (WebSocket) async throws -> Void)
        case eventLoop(any WebSocketEventLoopHandler)
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
    private func beginShutdown() {
        guard let (listener, open) = connections.beginDraining() else { return }
        logger.info("shutting down", metadata: ["connections": "\(open.count)"])
        listener?.close(promise: nil)
        let spread = configuration.shutdownSpread
        for (index, connection) in open.enumerated() {
            var reason = configuration.shutdownReason
            var delay = TimeAmount.zero
            if let spread {
                reason = CloseFrame.reason(reason, retryIn: .nanoseconds(spread.nanoseconds))
                delay = .nanoseconds(spread.nanoseconds * Int64(index) / Int64(max(1, open.count)))
            }
            connection.beginClose(code: .goingAway, reason: reason, timeout: configuration.drainTimeout, after: delay)
        }
    }

    private func runOnEventLoops() async throws {
        guard let threads = configuration.threads else {
            return try await serve(on: MultiThreadedEventLoopGroup.singleton)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        do {
            try await serve(on: group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private func serve(on group: any EventLoopGroup) async throws {

        let connections = self.connections
        let metrics = self.metrics
        let logger = self.logger
        let drainReason = configuration.shutdownReason
        var eventLoopDelivery: (@Sendable (UpgradedConnection) -> Void)?
        if case .eventLoop(let handler) = handling {
            eventLoopDelivery = { upgraded in
                let delivery = EventLoopDelivery(handler: handler, connection: EventLoopWebSocket(upgraded))
                // Each closure captures only the one object, so neither needs a context of its own.
                upgraded.handler.value.deliverOnEventLoop(received: { delivery.received($0) },
                                                          closed: { delivery.closed($0) })
            }
        }
        var settings = ServerHandshakeSettings(configuration: configuration.webSocket,
                                               shouldUpgrade: effectiveShouldUpgrade(),
                                               isDraining: { connections.isDraining },
                                               eventLoopDelivery: eventLoopDelivery,
                                               plainHTTP: configuration.plainHTTP, logger: logger,
                                               trafficObserver: { metrics.observer(for: $0) })
        let spareOutputs = PerEventLoop { SpareOutputBuffer() }
        settings.spareOutput = { spareOutputs.value(for: $0) }
        settings.protections = configuration.protections
        let maxConnections = configuration.protections.maxConnections
        if let maxConnections {
            settings.isFull = { connections.openCount >= maxConnections }
        }
        let handling = self.handling
        /// Every upgraded connection is registered on its event loop, so that a shutdown reaches
        /// it and its end is counted, whichever way it is handled.
        @Sendable func track(_ handshake: EventLoopFuture<ServerHandshakeOutcome>) {
            handshake.whenSuccess { outcome in
                guard case .upgraded(let upgraded) = outcome else { return }
                let handler = upgraded.handler.value
                let id: Int
                switch connections.register(upgraded.handler, limit: maxConnections) {
                case .registered(let registered):
                    id = registered
                case .draining:
                    handler.stopDelivering()
                    _ = handler.close(CloseFrame(code: .goingAway, reason: drainReason))
                    return
                case .full:
                    // Others were upgraded on other threads since this one passed the check.
                    handler.stopDelivering()
                    _ = handler.close(CloseFrame(code: .tryAgainLater, reason: "too many connections"))
                    return
                }
                metrics.connectionOpened()
                // Only the request is kept for the log line: the rest of the handshake (the
                // response's headers) is not held for the connection's lifetime.
                handler.whenClosed { [request = upgraded.request] outcome in
                    metrics.connectionClosed(outcome)
                    Self.logClose(outcome, request: request, logger: logger)
                    connections.ended(id, outcome: outcome)
                }
                if case .eventLoop(let eventLoopHandler) = handling {
                    eventLoopHandler.connectionOpened(EventLoopWebSocket(upgraded))
                }
            }
        }
        if case .eventLoop = handling {
            try await serveOnEventLoops(group: group, settings: settings, track: track)
            return
        }
        let serverChannel: NIOAsyncChannel<EventLoopFuture<ServerHandshakeOutcome>, Never>
        do {
            serverChannel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: configuration.backlog)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: configuration.host, port: configuration.port) { [tls = configuration.tls, settings] channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handshake = try Self.configureConnection(channel, tls: tls, settings: settings)
                        track(handshake)
                        return handshake
                    }
                }
        } catch {
            listening.fail(error)
            throw error
        }
        if let address = serverChannel.channel.localAddress {
            listening.succeed(address)
            logger.info("listening", metadata: ["address": "\(address)"])
        }
        guard connections.listening(on: serverChannel.channel) else {
            // A shutdown was asked for before the server listened.
            try await serverChannel.channel.close()
            return
        }
        try await withThrowingDiscardingTaskGroup { tasks in
            try await serverChannel.executeThenClose { inbound in
                for try await handshake in inbound {
                    tasks.addTask { await self.serve(handshake) }
                }
            }
        }
    }

    /// Sets up a new connection's pipeline: TLS first when configured, then the HTTP upgrade.
    private static func configureConnection(_ channel: any Channel, tls: WebSocketServerTLS?,
                                            settings: ServerHandshakeSettings) throws
        -> EventLoopFuture<ServerHandshakeOutcome>
    {
        // Set here rather than as the bootstrap's child options, which NIO applies one future
        // after another: a few allocations per connection saved. (TCP_NODELAY needs no setting:
        // NIO sets it on the listening socket, and accepted sockets inherit it.)
        if let options = channel.syncOptions {
            try options.setOption(.maxMessagesPerRead, value: 16)
            try options.setOption(.recvAllocator, value: receiveBuffers)
        }
        if let tls {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context),
                                                           name: "holdfast.tls")
        }
        return try ServerHandshakeHandler.configure(channel, settings: settings)
    }

    private func effectiveShouldUpgrade() -> (@Sendable (UpgradeRequest) -> UpgradeDecision<Void>)? {
        if let shouldUpgrade = configuration.shouldUpgrade { return shouldUpgrade }
        let supported = configuration.subprotocols
        guard !supported.isEmpty else { return nil }
        return { request in
            .accept(subprotocol: supported.first(where: request.offeredSubprotocols.contains))
        }
    }

    private func serve(_ handshake: EventLoopFuture<ServerHandshakeOutcome>) async {
        guard case .tasks(let handler) = handling,
              case .upgraded(let upgraded)? = try? await handshake.get() else { return }
        let webSocket = WebSocket(upgraded)
        var closeCode = CloseCode.normalClosure
        do {
            try await handler(webSocket)
        } catch let error as WebSocketError {
            // The connection closed under the handler (a send after the peer's close): no fault.
            logger.debug("connection handler ended by the connection", metadata: ["error": "\(error)"])
        } catch {
            logger.warning("connection handler failed", metadata: ["error": "\(error)"])
            closeCode = .internalError
        }
        if Task.isCancelled {
            webSocket.abort()
        }
        // How it ended is counted and logged where every connection's end is (`track`).
        _ = await webSocket.close(code: closeCode)
    }

    /// How each connection sizes its receive buffer: it starts at 512 bytes, room for a typical
    /// upgrade request, where NIO starts at 2 KiB, and then adapts to the traffic (64 B to
    /// 64 KiB) as NIO's does. An idle connection keeps its last receive buffer for the next read,
    /// so the smaller start is 1.5 KiB less memory for every connection that has said nothing
    /// since its handshake; a larger request only takes one more read.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    /// Logs how a connection ended, with its code's name and meaning: at debug level for the
    /// ordinary ends (1000, 1001), at info level for the others.
    private static func logClose(_ outcome: CloseOutcome, request: UpgradeRequest, logger: Logger) {
        let code = outcome.code
        let level: Logger.Level = code == .normalClosure || code == .goingAway ? .debug : .info
        logger.log(level: level, "connection closed: \(outcome.explanation())", metadata: [
            "code": "\(code.rawValue)", "name": "\(code.name)", "clean": "\(outcome.wasClean)",
            "path": "\(request.path)",
        ])
    }

    /// Serves with callbacks on the event loops: the listener's channel initializer does all the
    /// work, and this task only waits for the listener to close and the connections to end.
    private func serveOnEventLoops(group: any EventLoopGroup, settings: ServerHandshakeSettings,
                                   track: @escaping @Sendable (EventLoopFuture<ServerHandshakeOutcome>) -> Void)
        async throws
    {
        let listener: any Channel
        do {
            listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: configuration.backlog)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { [tls = configuration.tls] channel in
                    channel.eventLoop.makeCompletedFuture {
                        track(try Self.configureConnection(channel, tls: tls, settings: settings))
                    }
                }
                .bind(host: configuration.host, port: configuration.port).get()
        } catch {
            listening.fail(error)
            throw error
        }
        if let address = listener.localAddress {
            listening.succeed(address)
            logger.info("listening", metadata: ["address": "\(address)"])
        }
        guard connections.listening(on: listener) else {
            try await listener.close()
            return
        }
        let connections = self.connections
        await withTaskCancellationHandler {
            try? await listener.closeFuture.get()
            await connections.waitUntilNoneOpen()
        } onCancel: {
            listener.close(promise: nil)
            connections.abortAll()
        }
    }
}

/// How a graceful shutdown ended for the connections that were open when it began.
public struct ShutdownReport: Sendable, Hashable, CustomStringConvertible {
    /// Connections whose close handshake completed within the drain timeout.
    public var closedCleanly: Int
    /// Connections closed without a completed handshake (the drain timeout passed, or the peer
    /// dropped the connection).
    public var cut: Int

    /// Creates a report.
    public init(closedCleanly: Int, cut: Int) {
        self.closedCleanly = closedCleanly
        self.cut = cut
    }

    public var description: String { "\(closedCleanly) closed cleanly, \(cut) cut" }
}

/// The server's open connections and shutdown state, shared by its tasks.
final class ConnectionRegistry: Sendable {
    private struct State {
        var open: [Int: NIOLoopBound<WebSocketChannelHandler>] = [:]
        var nextID = 0
        var listener: (any Channel)?
        var draining = false
        var drained: Set<Int> = []
        var report = ShutdownReport(closedCleanly: 0, cut: 0)
        var finished = false
        var waiters: [CheckedContinuation<ShutdownReport, Never>] = []
        var emptyWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())

    var isDraining: Bool { state.withLockedValue { $0.draining } }

    /// Records the listening channel; `false` when a shutdown already began.
    func listening(on channel: any Channel) -> Bool {
        state.withLockedValue { state in
            state.listener = channel
            return !state.draining
        }
    }

    /// What ``register(_:limit:)`` made of a connection.
    enum Registration {
        /// Registered under this id.
        case registered(Int)
        /// Not registered: a shutdown began.
        case draining
        /// Not registered: `limit` connections are open.
        case full
    }

    /// The number of open connections.
    var openCount: Int { state.withLockedValue { $0.open.count } }

    /// Registers an open connection, unless draining or `limit` are open already.
    func register(_ handler: NIOLoopBound<WebSocketChannelHandler>, limit: Int?) -> Registration {
        state.withLockedValue { state in
            guard !state.draining else { return .draining }
            if let limit, state.open.count >= limit { return .full }
            let id = state.nextID
            state.nextID += 1
            state.open[id] = handler
            return .registered(id)
        }
    }

    /// Waits until every registered connection has ended.
    func waitUntilNoneOpen() async {
        await withCheckedContinuation { continuation in
            let done = state.withLockedValue { state -> Bool in
                guard !state.open.isEmpty else { return true }
                state.emptyWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Closes every connection's TCP at once (a cancelled server).
    func abortAll() {
        let open = state.withLockedValue { Array($0.open.values) }
        for handler in open {
            handler.eventLoop.execute { handler.value.abort() }
        }
    }

    /// Marks the start of a shutdown; returns the listener and the open connections, or `nil`
    /// when a shutdown already began.
    func beginDraining() -> ((any Channel)?, [NIOLoopBound<WebSocketChannelHandler>])? {
        state.withLockedValue { state in
            guard !state.draining else { return nil }
            state.draining = true
            state.drained = Set(state.open.keys)
            return (state.listener, Array(state.open.values))
        }
    }

    /// A connection ended; those open when the shutdown began are counted in the report.
    func ended(_ id: Int, outcome: CloseOutcome) {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.open[id] = nil
            if state.drained.remove(id) != nil {
                if outcome.wasClean {
                    state.report.closedCleanly += 1
                } else {
                    state.report.cut += 1
                }
            }
            guard state.open.isEmpty else { return [] }
            let waiters = state.emptyWaiters
            state.emptyWaiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The server has stopped: hand the report to whoever waits for it.
    func finish(logger: Logger) {
        let (report, waiters, draining) = state.withLockedValue { state in
            state.finished = true
            let waiters = state.waiters
            state.waiters.removeAll()
            return (state.report, waiters, state.draining)
        }
        if draining {
            logger.info("shut down", metadata: ["closedCleanly": "\(report.closedCleanly)", "cut": "\(report.cut)"])
        }
        for waiter in waiters { waiter.resume(returning: report) }
    }

    func waitForReport() async -> ShutdownReport {
        await withCheckedContinuation { continuation in
            let report: ShutdownReport? = state.withLockedValue { state in
                guard state.finished else {
                    state.waiters.append(continuation)
                    return nil
                }
                return state.report
            }
            if let report { continuation.resume(returning: report) }
        }
    }
}

/// The listening address, for callers that wait for it before ``WebSocketServer/run()`` binds.
final class ListeningState: Sendable {
    private enum State {
        case waiting([CheckedContinuation<SocketAddress, any Error>])
        case listening(SocketAddress)
        case failed(any Error)
    }

    private let state = NIOLockedValueBox(State.waiting([]))

    func wait() async throws -> SocketAddress {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<SocketAddress, any Error>? = state.withLockedValue { state in
                switch state {
                case .waiting(var waiters):
                    waiters.append(continuation)
                    state = .waiting(waiters)
                    return nil
                case .listening(let address):
                    return .success(address)
                case .failed(let error):
                    return .failure(error)
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    func succeed(_ address: SocketAddress) { finish(.listening(address), .success(address)) }

    func fail(_ error: any Error) { finish(.failed(error), .failure(error)) }

    private func finish(_ final: State, _ result: Result<SocketAddress, any Error>) {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<SocketAddress, any Error>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = final
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }
}

extension NIOLoopBound where Value == WebSocketChannelHandler {
    /// Starts closing after `delay`, from any thread; the close handshake then has `timeout`.
    func beginClose(code: CloseCode, reason: String, timeout: TimeAmount, after delay: TimeAmount) {
        let frame = CloseFrame(code: code, reason: reason)
        eventLoop.scheduleTask(in: delay) {
            _ = self.value.close(frame, timeout: timeout)
        }
    }
}

/// Hands one connection's messages and end to a ``WebSocketEventLoopHandler``: one small object
/// per connection, shared by the channel handler's two callbacks.
private final class EventLoopDelivery {
    let handler: any WebSocketEventLoopHandler
    let connection: EventLoopWebSocket

    init(handler: any WebSocketEventLoopHandler, connection: EventLoopWebSocket) {
        self.handler = handler
        self.connection = connection
    }

    func received(_ element: WebSocketChannelHandler.InboundElement) {
        switch element {
        case .message(let message): handler.received(message, on: connection)
        case .fragment(let fragment): handler.received(fragment, on: connection)
        }
    }

    func closed(_ outcome: CloseOutcome) {
        handler.connectionClosed(connection, outcome: outcome)
    }
}

/// One value per event loop, made on first request: what the connections of a loop share.
final class PerEventLoop<Value: Sendable>: Sendable {
    private let values = NIOLockedValueBox<[ObjectIdentifier: Value]>([:])
    private let make: @Sendable () -> Value

    init(_ make: @escaping @Sendable () -> Value) {
        self.make = make
    }

    /// Every value made so far.
    var all: [Value] { values.withLockedValue { Array($0.values) } }

    /// The value of `eventLoop`; looked up once per connection.
    func value(for eventLoop: any EventLoop) -> Value {
        values.withLockedValue { values in
            if let value = values[ObjectIdentifier(eventLoop)] { return value }
            let value = make()
            values[ObjectIdentifier(eventLoop)] = value
            return value
        }
    }
}
