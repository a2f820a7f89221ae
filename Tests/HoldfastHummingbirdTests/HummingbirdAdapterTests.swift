#if Hummingbird
import Holdfast
import HoldfastChannels
import HoldfastHummingbird
import HoldfastTestSupport
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import HoldfastTransfer
import ServiceLifecycle
import Testing

/// Holdfast on routes of a real Hummingbird app on loopback, driven by Holdfast's client and by
/// raw bytes: HTTP stays Hummingbird's, the app's middleware decides, Holdfast's limits and
/// shutdown hold.
@Suite(.timeLimit(.minutes(2)))
struct HummingbirdAdapterTests {
    @Test("a holdfast route echoes, its 101 announces the limits, and HTTP stays Hummingbird's (200 at /, 426 for a plain GET of the route)")
    func echoAndHTTP() async throws {
        let holdfast = HostedWebSocketServer(configuration: .init(webSocket: .init(maxMessageSize: 4096)), logger: quietLogger)
        try await withApp(holdfast) { port, _ in
            let reply = try await WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/echo") { ws in
                try await ws.send(.text("hello"))
                var messages = ws.messages.makeAsyncIterator()
                return (await messages.next(), ws.peerLimits)
            }
            #expect(reply.0 == .text("hello"))
            #expect(reply.1.maxMessageSize == 4096)

            let (page, plainGet) = try await (httpGet(port: port, path: "/"), httpGet(port: port, path: "/echo"))
            #expect(page.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(page.hasSuffix("plain HTTP\n"))
            #expect(plainGet.hasPrefix("HTTP/1.1 426 Upgrade Required\r\n"))
        }
        #expect(holdfast.statistics.totalConnections == 1)
    }

    @Test("a frame declared over the message limit gets 1009 naming the limit, before its payload is sent")
    func messageTooBig() async throws {
        let limit = 2048
        let holdfast = HostedWebSocketServer(configuration: .init(webSocket: .init(maxMessageSize: limit)), logger: quietLogger)
        try await withApp(holdfast) { port, _ in
            let (head, close, ended) = try await RawConnection.with(port: port) { connection in
                try await connection.write(upgradeRequest(host: "127.0.0.1:\(port)", path: "/echo"))
                let head = try await connection.readHTTPHead()
                try await connection.write(maskedFrame(opcode: 0x2, payload: [], declaredLength: limit + 1))
                let close = try await connection.readSmallFrame()
                _ = try await connection.readToEnd()
                return (head, close, connection.sawEndOfStream)
            }
            #expect(head.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
            #expect(head.contains("Holdfast-Max-Message-Size: \(limit)\r\n"))
            #expect(close.firstByte == 0x88)
            var payload = close.payload
            #expect(payload.readInteger(as: UInt16.self) == 1009)
            #expect(payload.readString(length: payload.readableBytes) == "message exceeds limit of \(limit) bytes")
            #expect(ended, "the server ends the connection")
            // Counted once the server's side has closed, which the client may see first.
            try await waitUntil("the 1009 is counted") { holdfast.statistics.closes[.messageTooBig] == 1 }
        }
    }

    @Test("the app's middleware runs before the upgrade: no token gets its 401, a token's user reaches the handler")
    func middlewareAuthenticates() async throws {
        try await withApp(HostedWebSocketServer(logger: quietLogger)) { port, _ in
            let refused = await #expect(throws: HandshakeError.self) {
                try await WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/chat") { _ in }
            }
            #expect(refused?.status == .unauthorized)

            let configuration = WebSocketClientConfiguration(headers: ["Authorization": "Bearer token-ada"])
            let greeting = try await WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/chat",
                                                             configuration: configuration) { ws in
                var messages = ws.messages.makeAsyncIterator()
                return await messages.next()
            }
            #expect(greeting == .text("hello, Ada"))
        }
    }

    @Test("the service group's graceful shutdown sends 1001 with a retry hint to 200 clients, none cut, and the app stops in time")
    func gracefulShutdown() async throws {
        let count = 200
        let holdfast = HostedWebSocketServer(configuration: .init(drainTimeout: .seconds(3), shutdownSpread: .seconds(1)),
                                             logger: quietLogger)
        let shutdownBegan = try await withApp(holdfast) { port, services in
            try await withThrowingTaskGroup(of: CloseOutcome.self) { clients in
                for index in 0..<count {
                    clients.addTask {
                        let configuration = WebSocketClientConfiguration(connectTimeout: .seconds(30))
                        return try await WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/echo",
                                                                 configuration: configuration) { ws in
                            try await ws.send(.text("client \(index)"))
                            for await _ in ws.messages {}
                            return await ws.closeOutcome
                        }
                    }
                }
                try await waitUntil("every client said hello", limit: .seconds(60)) { holdfast.statistics.messagesReceived == count }
                let shutdownBegan = ContinuousClock.now
                await services.triggerGracefulShutdown()
                var outcomes: [CloseOutcome] = []
                for try await outcome in clients { outcomes.append(outcome) }
                #expect(outcomes.count == count)
                #expect(outcomes.allSatisfy { $0.code == .goingAway && $0.wasClean })
                #expect(outcomes.allSatisfy { $0.received?.reason.contains("retry in 1000 ms") == true })
                return shutdownBegan
            }
        }
        // The app has stopped: within the 1-s spread and the 3-s drain, not a 10-s timeout.
        #expect(ContinuousClock.now - shutdownBegan < .seconds(8))
        #expect(holdfast.statistics.closes[.goingAway] == count)
        #expect(holdfast.statistics.closes[.abnormalClosure] == nil)
    }
}

extension HummingbirdAdapterTests {
    @Test("channels and transfers run on holdfast routes: a subscriber gets every publish once, in order; 3 MiB arrive verified through a 64 KiB route limit")
    func channelsAndTransfers() async throws {
        let hub = ChannelHub(store: InMemoryChannelStore())
        let receiver = TransferReceiver()
        let routeLimit = 64 << 10
        let routes: @Sendable (Router<TestContext>) -> Void = { router in
            router.holdfast("/channels", shouldUpgrade: { _, _ in .upgrade(subprotocol: channelsSubprotocol) },
                            eventLoopHandler: ChannelsHandler<Void>(hub: hub))
            router.holdfast("/upload", shouldUpgrade: { _, _ in
                .upgrade(configuration: WebSocketConfiguration(maxMessageSize: routeLimit))
            }, handler: { ws, _ in await receiver.serve(ws) })
        }
        try await withApp(HostedWebSocketServer(logger: quietLogger), services: [hub], routes: routes) { port, _ in
            let data = ByteBuffer(bytes: (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
            let upload = ReconnectingWebSocket(url: "ws://127.0.0.1:\(port)/upload")
            let subscriber = ChannelClient(url: "ws://127.0.0.1:\(port)/channels")
            let publisher = ChannelClient(url: "ws://127.0.0.1:\(port)/channels")
            try await withThrowingTaskGroup(of: Void.self) { clients in
                defer { clients.cancelAll() }
                for client in [subscriber, publisher] { clients.addTask { try await client.run() } }
                clients.addTask { try await upload.run() }

                let subscription = try subscriber.subscribe("room")
                var events = subscription.makeAsyncIterator()
                try await waitUntil("the hub has the subscription") { hub.statistics.subscriptions == 1 }
                for index in 1...20 { _ = try await publisher.publish(.text("message \(index)"), to: "room") }
                var received: [String] = []
                while received.count < 20, let event = try await events.next() {
                    if case .publication(let publication) = event { received.append(publication.message.text ?? "") }
                }
                #expect(received == (1...20).map { "message \($0)" })

                let report = try await TransferSender(client: upload).send(.bytes(data, name: "three.bin"))
                #expect(report.digest == TransferDigest(of: data))
                #expect(report.finalChunkSize == routeLimit - TransferMessage.chunkHeaderSize)
                var transfers = receiver.transfers.makeAsyncIterator()
                let arrived = await transfers.next()
                #expect(arrived?.size == data.readableBytes)
                #expect(arrived?.digest == report.digest)
            }
        }
    }
}

extension HummingbirdAdapterTests {
    @Test("an app cancelled with the hosted server among its services closes the connections served on their event loops")
    func cancelledAppClosesEventLoopConnections() async throws {
        let holdfast = HostedWebSocketServer(logger: quietLogger)
        let router = Router(context: TestContext.self)
        router.holdfast("/echo", eventLoopHandler: EventLoopEcho())
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, server: .http1Holdfast(webSocketRouter: router, server: holdfast),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)), services: [holdfast],
                              onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) },
                              logger: quietLogger)
        let running = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let outcome = try await WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/echo") { ws in
            try await ws.send(.text("hello"))
            var messages = ws.messages.makeAsyncIterator()
            #expect(await messages.next() == .text("hello"))
            running.cancel()
            while await messages.next() != nil {}
            return await ws.closeOutcome
        }
        #expect(outcome.code == .abnormalClosure, "cut at once: no close handshake for a cancelled app")
        _ = await running.result
        #expect(holdfast.statistics.openConnections == 0)
    }
}

extension HummingbirdAdapterTests {
    @Test("while a slow decision runs the server reads nothing more: a client flooding after its upgrade request cannot make it buffer")
    func noReadingWhileDeciding() async throws {
        let routes: @Sendable (Router<TestContext>) -> Void = { router in
            router.group("/slow").add(middleware: SlowDecision()).holdfast(eventLoopHandler: EventLoopEcho())
        }
        try await withApp(HostedWebSocketServer(logger: quietLogger), routes: routes) { port, _ in
            // A plain NIO client whose writes complete only once the kernel took them: what it
            // gets out is what the server read, plus the kernel buffers of both ends.
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            defer { channel.close(promise: nil) }
            try await channel.writeAndFlush(ByteBuffer(string: upgradeRequest(host: "127.0.0.1:\(port)", path: "/slow"))).get()
            let frame = ByteBuffer(bytes: maskedFrame(opcode: 0x2, payload: [UInt8](repeating: 7, count: (1 << 20) - 16)))
            let cap = 256 << 20
            // Write for 0.8 s of the decision's 1.5 s.
            let written = try await withThrowingTaskGroup(of: Int?.self) { group in
                group.addTask {
                    var written = 0
                    while written < cap {
                        try await channel.writeAndFlush(frame).get()
                        written += frame.readableBytes
                    }
                    return written
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(800))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            #expect(written == nil, "all \(cap >> 20) MiB went out: the server read while it decided")
        }
    }
}

/// Takes 1.5 s to let a request through, as a session lookup might.
struct SlowDecision: RouterMiddleware {
    func handle(_ request: Request, context: TestContext,
                next: (Request, TestContext) async throws -> Response) async throws -> Response {
        try await Task.sleep(for: .milliseconds(1500))
        return try await next(request, context)
    }
}

/// The test app's WebSocket context: Holdfast's slot and the user the middleware found.
struct TestContext: HoldfastRequestContext {
    var coreContext: CoreRequestContextStorage
    let holdfast = HoldfastRouteSlot()
    var user: String?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// Names the user of a `Bearer token-NAME` header; refuses anything else with 401.
struct TokenAuthentication: RouterMiddleware {
    func handle(_ request: Request, context: TestContext,
                next: (Request, TestContext) async throws -> Response) async throws -> Response {
        guard let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer token-") else {
            throw HTTPError(.unauthorized, message: "a token is needed")
        }
        var context = context
        context.user = String(authorization.dropFirst("Bearer token-".count)).capitalized
        return try await next(request, context)
    }
}

/// Echoes on the event loop.
struct EventLoopEcho: WebSocketEventLoopHandler {
    func received(_ message: WebSocketMessage, on connection: EventLoopConnection<Void>) {
        try? connection.send(message)
    }
}

/// Runs an app on a free loopback port with one router for HTTP and WebSockets: `/` (plain
/// HTTP), `/echo` (on the event loop) and `/chat` (behind the token middleware, served by a
/// task that greets the user); `body` gets the port and the service group.
func withApp<Result: Sendable>(_ holdfast: HostedWebSocketServer, services extra: [any Service] = [],
                               routes: @Sendable (Router<TestContext>) -> Void = { _ in },
                               _ body: @Sendable (Int, ServiceGroup) async throws -> Result) async throws -> Result {
    let logger = quietLogger
    let router = Router(context: TestContext.self)
    router.get("/") { _, _ in "plain HTTP\n" }
    router.holdfast("/echo", eventLoopHandler: EventLoopEcho())
    router.group("/chat").add(middleware: TokenAuthentication()).holdfast { _, _ in .upgrade } handler: { ws, route in
        try await ws.send(.text("hello, \(route.requestContext.user ?? "nobody")"))
        for await _ in ws.messages {}
    }
    routes(router)
    let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
    let app = Application(router: router, server: .http1Holdfast(webSocketRouter: router, server: holdfast),
                          configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) },
                          logger: logger)
    // The extra services (a channel hub) stop after the app, as the service group stops in reverse.
    let services = ServiceGroup(configuration: .init(services: extra + [app], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await services.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        let result = try await body(port, services)
        await services.triggerGracefulShutdown()
        try await group.waitForAll()
        return result
    }
}

/// Logs errors only: the tests' closes are expected.
let quietLogger: Logger = {
    var logger = Logger(label: "holdfast-hummingbird-test")
    logger.logLevel = .error
    return logger
}()

/// Sends `GET path` and returns the whole answer.
func httpGet(port: Int, path: String) async throws -> String {
    try await RawConnection.with(port: port) { connection in
        try await connection.write("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        var answer = try await connection.readToEnd()
        return answer.readString(length: answer.readableBytes) ?? ""
    }
}
#endif
