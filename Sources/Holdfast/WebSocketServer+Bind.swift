import Atomics
import HoldfastCore
import HoldfastNIO
import NIOCore
import NIOPosix
import NIOSSL

extension WebSocketServer {
    /// Serves on the configured event-loop group: the shared one, or threads of its own, shut
    /// down once the server has stopped.
    func runOnEventLoops() async throws {
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

    /// Binds, and serves until the listener has closed and every connection has ended; the one
    /// path for both handling modes, which differ only in how an accepted connection is taken over
    /// (``ConnectionHandling``). The listener's channel initializer does the work of each
    /// connection on its event loop; this task runs what must run in tasks (handlers, `async`
    /// upgrade decisions) as its children.
    func serve(on group: any EventLoopGroup) async throws {
        let work = ServerWork()
        let run = ServerRun(connections: connections, metrics: metrics, logger: logger,
                            drainReason: configuration.shutdownReason,
                            maxConnections: configuration.protections.maxConnections, work: work)
        // With a connection limit, every accepted TCP connection counts toward it, upgraded or
        // not: clients that open connections and never finish their upgrade hold places too.
        let accepted = configuration.protections.maxConnections.map { _ in ManagedAtomic<Int>(0) }
        let settings = handshakeSettings(for: run, accepted: accepted)
        let listener: any Channel
        do {
            listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: configuration.backlog)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // Out of file descriptors: pause accepting for 250 ms, not spin a core.
                        try channel.pipeline.syncOperations.addHandler(AcceptPauseHandler(pause: .milliseconds(250)))
                    }
                }
                .childChannelInitializer { [tls = configuration.tls] channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let accepted {
                            accepted.wrappingIncrement(ordering: .relaxed)
                            channel.closeFuture.whenComplete { _ in accepted.wrappingDecrement(ordering: .relaxed) }
                        }
                        _ = try Self.configureConnection(channel, tls: tls, settings: settings)
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
            // A shutdown was asked for before the server listened.
            try await listener.close()
            return
        }
        let connections = self.connections
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { tasks in
                tasks.addTask {
                    try? await listener.closeFuture.get()
                    await connections.waitUntilNoneOpen()
                    work.finish()
                }
                while let job = await work.next() {
                    tasks.addTask { await job() }
                }
            }
        } onCancel: {
            listener.close(promise: nil)
            connections.abortAll()
            work.finish()
        }
    }

    /// The handshake settings of this run: the configuration's, with the decision and the
    /// handover of ``handling``, and the run's registry and counters.
    private func handshakeSettings(for run: ServerRun, accepted: ManagedAtomic<Int>?) -> ServerHandshakeSettings {
        let (decider, handover) = handling.prepare(run)
        let connections = self.connections
        let metrics = self.metrics
        var settings = ServerHandshakeSettings(configuration: configuration.webSocket, shouldUpgrade: nil,
                                               isDraining: { connections.isDraining },
                                               plainHTTP: configuration.plainHTTP, logger: logger,
                                               trafficObserver: { metrics.observer(for: $0) })
        settings.decider = decider
        settings.handover = handover
        let spareOutputs = PerEventLoop { SpareOutputBuffer() }
        settings.spareOutput = { spareOutputs.value(for: $0) }
        settings.protections = configuration.protections
        if let maxConnections = configuration.protections.maxConnections, let accepted {
            // The connection asking is among those counted.
            settings.isFull = { accepted.load(ordering: .relaxed) > maxConnections || connections.openCount >= maxConnections }
        }
        return settings
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

    /// How each connection sizes its receive buffer: it starts at 512 bytes, room for a typical
    /// upgrade request, where NIO starts at 2 KiB, and then adapts to the traffic (64 B to
    /// 64 KiB) as NIO's does. An idle connection keeps its last receive buffer for the next read,
    /// so the smaller start is 1.5 KiB less memory for every connection that has said nothing
    /// since its handshake; a larger request only takes one more read.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)
}
