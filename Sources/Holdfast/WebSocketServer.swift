import HoldfastCore
import HoldfastNIO
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

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
    public var shouldUpgrade: (@Sendable (UpgradeRequest) -> UpgradeDecision)?
    /// Event-loop threads. Default `nil`: the shared group with one thread per core.
    public var threads: Int?
    /// The listen backlog. Default 256, enough for bursts of reconnecting clients.
    public var backlog: Int32

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(host: String = "127.0.0.1", port: Int = 8080, webSocket: WebSocketConfiguration = .init(),
                subprotocols: [String] = [],
                shouldUpgrade: (@Sendable (UpgradeRequest) -> UpgradeDecision)? = nil,
                threads: Int? = nil, backlog: Int32 = 256) {
        self.host = host
        self.port = port
        self.webSocket = webSocket
        self.subprotocols = subprotocols
        self.shouldUpgrade = shouldUpgrade
        self.threads = threads
        self.backlog = backlog
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
public final class WebSocketServer: Sendable {
    /// The server's settings.
    public let configuration: WebSocketServerConfiguration
    private let logger: Logger
    private let handler: @Sendable (WebSocket) async throws -> Void
    private let listening = ListeningState()

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
        self.handler = handler
    }

    /// The address the server listens on, once it does; waits until then. Throws if ``run()``
    /// failed to bind.
    public var listeningAddress: SocketAddress {
        get async throws { try await listening.wait() }
    }

    /// Listens and serves until cancelled or the listening socket fails.
    public func run() async throws {
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

        let settings = ServerHandshakeSettings(configuration: configuration.webSocket,
                                               shouldUpgrade: effectiveShouldUpgrade(), logger: logger)
        let serverChannel: NIOAsyncChannel<EventLoopFuture<ServerHandshakeOutcome>, Never>
        do {
            serverChannel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: configuration.backlog)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .bind(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try ServerHandshakeHandler.configure(channel, settings: settings)
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
        try await withThrowingDiscardingTaskGroup { tasks in
            try await serverChannel.executeThenClose { inbound in
                for try await handshake in inbound {
                    tasks.addTask { await self.serve(handshake) }
                }
            }
        }
    }

    private func effectiveShouldUpgrade() -> (@Sendable (UpgradeRequest) -> UpgradeDecision)? {
        if let shouldUpgrade = configuration.shouldUpgrade { return shouldUpgrade }
        let supported = configuration.subprotocols
        guard !supported.isEmpty else { return nil }
        return { request in
            .accept(subprotocol: supported.first(where: request.offeredSubprotocols.contains))
        }
    }

    private func serve(_ handshake: EventLoopFuture<ServerHandshakeOutcome>) async {
        guard case .upgraded(let upgraded)? = try? await handshake.get() else { return }
        let webSocket = WebSocket(upgraded)
        var closeCode = CloseCode.normalClosure
        do {
            try await handler(webSocket)
        } catch {
            logger.warning("connection handler failed", metadata: ["error": "\(error)"])
            closeCode = .internalError
        }
        if Task.isCancelled { closeCode = .goingAway }
        let outcome = await webSocket.close(code: closeCode)
        logger.debug("connection closed", metadata: ["outcome": "\(outcome)"])
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
