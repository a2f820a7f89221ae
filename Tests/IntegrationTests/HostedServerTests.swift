import Holdfast
import HoldfastTestSupport
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// ``HostedWebSocketServer`` inside a server of another's making — here a plain NIO server on
/// NIO's typed HTTP upgrade, as a framework would build it: its answers (101 or the refusal a
/// framework writes), its take-over, and its shutdown through NIO's quiesce event.
@Suite(.timeLimit(.minutes(1)))
struct HostedServerTests {
    @Test("a valid upgrade gets the 101 with the announced limits and echoes; a frame over the limit gets 1009")
    func upgradesAndEnforcesLimits() async throws {
        let hosted = HostedWebSocketServer(configuration: .init(webSocket: testWebSocketConfiguration(maxMessageSize: 1024)),
                                           logger: silentLogger)
        try await withHostingServer(hosted) { port, _ in
            let reply = try await connect("ws://127.0.0.1:\(port)/") { ws in
                try await ws.send(.text("hello"))
                var messages = ws.messages.makeAsyncIterator()
                return (await messages.next(), ws.peerLimits.maxMessageSize)
            }
            #expect(reply.0 == .text("hello"))
            #expect(reply.1 == 1024)
            let close = try await RawConnection.with(port: port) { raw in
                try await raw.write(upgradeRequest(host: "127.0.0.1:\(port)"))
                _ = try await raw.readHTTPHead()
                try await raw.write(maskedFrame(opcode: 0x2, payload: [], declaredLength: 1025))
                return try await raw.readSmallFrame()
            }
            var payload = close.payload
            #expect(payload.readInteger(as: UInt16.self) == 1009)
            #expect(payload.readString(length: payload.readableBytes) == "message exceeds limit of 1024 bytes")
        }
    }

    @Test("answer refuses what it must: a bad version 426, a missing key 400, a foreign origin 403, past the connection limit 503")
    func refusals() async throws {
        let hosted = HostedWebSocketServer(configuration: .init(webSocket: testWebSocketConfiguration(), maxConnections: 1,
                                                                allowedOrigins: ["https://app.example"]),
                                           logger: silentLogger)
        try await withHostingServer(hosted) { port, _ in
            let host = "127.0.0.1:\(port)"
            let badVersion = try await Self.answerHead(port: port, upgradeRequest(host: host, version: "8"))
            #expect(badVersion.hasPrefix("HTTP/1.1 426 "))
            #expect(badVersion.contains("Sec-WebSocket-Version: 13"))
            let noKey = "GET / HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
            #expect(try await Self.answerHead(port: port, noKey).hasPrefix("HTTP/1.1 400 "))
            let foreign = try await Self.answerHead(port: port, upgradeRequest(host: host, extraHeaders: "Origin: https://evil.example\r\n"))
            #expect(foreign.hasPrefix("HTTP/1.1 403 "))

            try await connect("ws://127.0.0.1:\(port)/") { ws in
                try await ws.send(.text("one"))
                var messages = ws.messages.makeAsyncIterator()
                _ = await messages.next()
                let full = try await Self.answerHead(port: port, upgradeRequest(host: host))
                #expect(full.hasPrefix("HTTP/1.1 503 "))
                #expect(full.contains("Retry-After: 1"))
            }
        }
    }

    @Test("the framework's quiesce event shuts the hosted server down: 1001 to each with a retry hint, a clean report, 503 for upgrades after")
    func quiesceShutsDown() async throws {
        let hosted = HostedWebSocketServer(configuration: .init(webSocket: testWebSocketConfiguration(),
                                                                drainTimeout: .seconds(3), shutdownSpread: .milliseconds(300)),
                                           logger: silentLogger)
        try await withHostingServer(hosted) { port, quiesce in
            let outcomes = try await withThrowingTaskGroup(of: CloseOutcome.self) { clients in
                for index in 0..<20 {
                    clients.addTask {
                        try await connect("ws://127.0.0.1:\(port)/") { ws in
                            try await ws.send(.text("client \(index)"))
                            for await _ in ws.messages {}
                            return await ws.closeOutcome
                        }
                    }
                }
                try await waitUntil("every client said hello") { hosted.statistics.messagesReceived == 20 }
                quiesce()
                var outcomes: [CloseOutcome] = []
                for try await outcome in clients { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.count == 20)
            #expect(outcomes.allSatisfy { $0.code == .goingAway && $0.wasClean })
            #expect(outcomes.allSatisfy { $0.received?.reason.hasPrefix("server shutting down") == true })
            #expect(outcomes.allSatisfy { $0.received?.reason.contains("retry in 300 ms") == true })
            #expect(await hosted.shutdown() == ShutdownReport(closedCleanly: 20, cut: 0))
            let late = try await Self.answerHead(port: port, upgradeRequest(host: "127.0.0.1:\(port)"))
            #expect(late.hasPrefix("HTTP/1.1 503 "))
            #expect(late.contains("Retry-After: 1"))
        }
    }

    /// Sends `request` and returns the answer's head.
    static func answerHead(port: Int, _ request: String) async throws -> String {
        try await RawConnection.with(port: port) { raw in
            try await raw.write(request)
            return try await raw.readHTTPHead()
        }
    }
}

/// Runs a NIO server whose connections upgrade through `hosted` (echoing on the event loop), on
/// a free port, for the duration of `body`, which also gets what a framework's graceful shutdown
/// does to its connections: NIO's `ChannelShouldQuiesceEvent` to each.
private func withHostingServer(_ hosted: HostedWebSocketServer,
                               _ body: (Int, @Sendable () -> Void) async throws -> Void) async throws {
    let accepted = NIOLockedValueBox<[any Channel]>([])
    let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                accepted.withLockedValue { $0.append(channel) }
                let upgrader = HostingUpgrader(hosted: hosted)
                let upgrades = NIOTypedHTTPServerUpgradeConfiguration<Void>(
                    upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(RefusalWriter(refusal: upgrader.refusal))
                        }
                    })
                _ = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                    configuration: .init(upgradeConfiguration: upgrades))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    defer { listener.close(promise: nil) }
    try await body(try #require(listener.localAddress?.port)) {
        for channel in accepted.withLockedValue({ $0 }) {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }
}

/// What a framework's upgrader does with a hosted server: its answer's headers in the 101, or
/// the refusal kept for the HTTP side to write; the take-over once the 101 is out.
private final class HostingUpgrader: NIOTypedHTTPServerProtocolUpgrader, Sendable {
    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []
    let hosted: HostedWebSocketServer
    private let answered = NIOLockedValueBox<HostedWebSocketServer.Answer?>(nil)

    init(hosted: HostedWebSocketServer) { self.hosted = hosted }

    var refusal: PlainHTTPResponse? {
        if case .refuse(let response) = answered.withLockedValue({ $0 }) { return response }
        return nil
    }

    struct Refused: Error {}

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead,
                              initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        let answer = hosted.answer(upgradeRequest, remoteAddress: channel.remoteAddress)
        answered.withLockedValue { $0 = answer }
        switch answer {
        case .upgrade(let upgrade): return channel.eventLoop.makeSucceededFuture(upgrade.responseHeaders)
        case .refuse: return channel.eventLoop.makeFailedFuture(Refused())
        }
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            guard case .upgrade(let upgrade) = answered.withLockedValue({ $0 }) else { throw Refused() }
            try hosted.takeOver(channel, upgrade: upgrade, handler: HostedEcho(), context: ())
        }
    }
}

/// Echoes on the event loop.
private struct HostedEcho: WebSocketEventLoopHandler {
    func received(_ message: WebSocketMessage, on connection: EventLoopConnection<Void>) {
        try? connection.send(message)
    }
}

/// Writes the hosted server's refusal (or 404 for a plain request) and closes.
private final class RefusalWriter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let refusal: PlainHTTPResponse?

    init(refusal: PlainHTTPResponse?) { self.refusal = refusal }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let response = refusal ?? PlainHTTPResponse(status: .notFound)
        var headers = response.headers
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.readableBytes))
        headers.replaceOrAdd(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
