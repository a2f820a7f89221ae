import Holdfast
import HoldfastTestSupport
import NIOCore
import NIOPosix
import ServiceLifecycleTestKit
import Testing

/// A server's graceful shutdown: 1001 to every connection, delivery until each peer's close answer,
/// no new connections meanwhile, a drain timeout for peers that never answer, and an optional
/// spread of the closes over a window with a retry hint.
///
/// The limits are hang guards, not speed checks: in one test process the CPU-bound core tests can
/// hold every thread of the cooperative pool for a while on a loaded machine, and 200 clients then
/// wait their turn.
@Suite(.timeLimit(.minutes(3)))
struct ShutdownTests {
    /// Settings whose close timeout (5 s) differs from the drain timeout, so a test can tell which
    /// one ended a connection.
    static func configuration(drainTimeout: TimeAmount = .seconds(3), spread: TimeAmount? = nil)
        -> WebSocketServerConfiguration
    {
        // Port 0: the service-lifecycle test runs the server itself, not through withRunningServer.
        WebSocketServerConfiguration(port: 0, webSocket: testWebSocketConfiguration(), drainTimeout: drainTimeout,
                                     shutdownSpread: spread)
    }

    /// A handler that reports every received message as `path text`.
    static func recording() -> (AsyncStream<String>, @Sendable (WebSocket) async throws -> Void) {
        let (received, sink) = AsyncStream.makeStream(of: String.self)
        return (received, { ws in
            for await message in ws.messages { sink.yield("\(ws.request.path) \(message.text ?? "<binary>")") }
        })
    }

    /// Connects a Holdfast client to `path`, says hello, and waits for the server to close;
    /// returns how the connection ended and when (on the continuous clock).
    /// The connect may take long: 200 handshakes at once, in a test process that runs every other
    /// suite at the same time, can each wait several seconds on a busy machine.
    static func client(port: Int, path: String) async throws -> (CloseOutcome, ContinuousClock.Instant) {
        try await connect("ws://127.0.0.1:\(port)\(path)", connectTimeout: .seconds(60)) { ws in
            try await ws.send(text: "hello")
            for await _ in ws.messages {}
            let ended = ContinuousClock.now
            return (await ws.closeOutcome, ended)
        }
    }

    /// The code and reason of a close frame's payload.
    static func decodeClose(_ payload: ByteBuffer) -> (code: UInt16?, reason: String) {
        var payload = payload
        let code = payload.readInteger(as: UInt16.self)
        return (code, payload.readString(length: payload.readableBytes) ?? "")
    }

    /// Tries a new connection and checks that it does not get through: refused at the TCP level,
    /// or answered with HTTP 503.
    static func expectRefused(port: Int, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await connect("ws://127.0.0.1:\(port)/late") { _ in }
            Issue.record("a connection made after the shutdown began was upgraded", sourceLocation: sourceLocation)
        } catch let error as HandshakeError {
            // A handshake the server saw answers 503; one the closing listener dropped ends early.
            if let status = error.status {
                #expect(status == .serviceUnavailable, "\(error)", sourceLocation: sourceLocation)
            }
        } catch {
            // Connection refused: the listener is closed.
        }
    }

    @Test("200 clients connected: shutdown() closes every one with 1001 and the reason, cleanly")
    func shutdownWithManyClients() async throws {
        let count = 200
        let (received, handler) = Self.recording()
        try await withRunningServer(configuration: Self.configuration(), handler: handler) { server, port in
            try await withThrowingTaskGroup(of: CloseOutcome.self) { clients in
                for index in 0..<count {
                    clients.addTask { try await Self.client(port: port, path: "/client/\(index)").0 }
                }
                // Every hello arrived: every connection is registered and served. If not, the server
                // is shut down before the error is thrown, so that the connected clients end and the
                // failure shows — instead of a group waiting for clients that wait for the server.
                let hellos: [String]
                do {
                    hellos = try await collect(count, of: received, "a hello from every client", limit: .seconds(90))
                } catch {
                    await server.shutdown()
                    throw error
                }
                #expect(Set(hellos) == Set((0..<count).map { "/client/\($0) hello" }))

                let report = try await withTimeout("the shutdown") { await server.shutdown() }
                #expect(report == ShutdownReport(closedCleanly: count, cut: 0))

                var outcomes: [CloseOutcome] = []
                for try await outcome in clients { outcomes.append(outcome) }
                #expect(outcomes.count == count)
                let notGoingAway = outcomes.filter { $0.code != .goingAway || $0.reason != "server shutting down" }
                #expect(notGoingAway.isEmpty, "\(notGoingAway.count) clients saw \(Set(notGoingAway.map(\.description)))")
                #expect(!outcomes.contains { $0.code == .abnormalClosure }, "no client sees 1006")
                #expect(outcomes.allSatisfy { $0.wasClean })
                #expect(outcomes.allSatisfy { $0.sent?.code == .goingAway }, "each client answered with 1001")
            }
            // Stopped for good: nothing listens any more.
            await Self.expectRefused(port: port)
            #expect(await server.stopped() == ShutdownReport(closedCleanly: count, cut: 0))
            // The clients answered the server's 1001: none of them left on its own.
            #expect(server.statistics.closes[.goingAway] == count)
            #expect(server.statistics.departures == 0)
        }
    }

    @Test("what a peer sends before answering the 1001 reaches the handler; new connections are refused meanwhile")
    func deliversUntilCloseAnswer() async throws {
        let (received, handler) = Self.recording()
        try await withRunningServer(configuration: Self.configuration(), handler: handler) { server, port in
            try await RawConnection.with(port: port) { raw in
                try await raw.write(upgradeRequest(host: "127.0.0.1:\(port)", path: "/raw"))
                let head = try await raw.readHTTPHead()
                #expect(head.hasPrefix("HTTP/1.1 101 "))
                try await raw.write(maskedFrame(opcode: 0x1, payload: Array("hello".utf8)))
                #expect(try await first(of: received, "the hello") == "/raw hello")

                async let report = server.shutdown()
                let close = try await raw.readSmallFrame()
                #expect(close.firstByte == 0x88)
                let (code, reason) = Self.decodeClose(close.payload)
                #expect(code == 1001)
                #expect(reason == "server shutting down")

                // Draining: the server waits for this peer's answer, and lets no one else in.
                await Self.expectRefused(port: port)

                try await raw.write(maskedFrame(opcode: 0x1, payload: Array("still here 1".utf8))
                                    + maskedFrame(opcode: 0x1, payload: Array("still here 2".utf8)))
                try await raw.write(maskedFrame(opcode: 0x8, payload: [0x03, 0xE9]))
                let rest = try await raw.readToEnd()
                #expect(rest.readableBytes == 0, "nothing follows the server's close frame")
                #expect(raw.sawEndOfStream, "the server closes TCP once the handshake is complete")

                let finalReport = await report
                #expect(finalReport == ShutdownReport(closedCleanly: 1, cut: 0))
            }
            #expect(try await collect(2, of: received, "the messages sent before the close answer")
                    == ["/raw still here 1", "/raw still here 2"])
        }
    }

    @Test("a peer that never answers the 1001 is cut at the drain timeout; the others close cleanly")
    func drainTimeoutCutsSilentPeer() async throws {
        let (received, handler) = Self.recording()
        // The polite peer has the drain timeout to answer, on event loops that every test running
        // in parallel shares: 3 s, not less. The close timeout is far longer, so that a cut at the
        // drain timeout cannot be mistaken for one at the close timeout.
        var configuration = Self.configuration(drainTimeout: .seconds(3))
        configuration.webSocket.closeTimeout = .seconds(30)
        try await withRunningServer(configuration: configuration, handler: handler) { server, port in
            try await withThrowingTaskGroup(of: CloseOutcome.self) { clients in
                clients.addTask { try await Self.client(port: port, path: "/polite").0 }
                try await RawConnection.with(port: port) { raw in
                    try await raw.write(upgradeRequest(host: "127.0.0.1:\(port)", path: "/silent"))
                    _ = try await raw.readHTTPHead()
                    try await raw.write(maskedFrame(opcode: 0x1, payload: Array("hello".utf8)))
                    let hellos = try await collect(2, of: received, "both hellos")
                    #expect(Set(hellos) == ["/polite hello", "/silent hello"])

                    // Timed from the shutdown's start: the server's drain timer starts when it sends
                    // the close, and this task may see that frame late on a busy machine.
                    let shutdownStarted = ContinuousClock.now
                    async let report = server.shutdown()
                    let close = try await raw.readSmallFrame()
                    #expect(Self.decodeClose(close.payload).code == 1001)
                    // Never answer: the server alone decides when to give up.
                    _ = try await raw.readToEnd()
                    let waited = shutdownStarted.duration(to: .now)
                    #expect(raw.sawEndOfStream)
                    #expect(waited >= .seconds(3), "cut after \(waited), before the 3 s drain timeout")
                    #expect(waited < .seconds(15), "cut after \(waited): the drain timeout, not the 30 s close timeout")

                    let finalReport = await report
                    #expect(finalReport == ShutdownReport(closedCleanly: 1, cut: 1))
                }
                let polite = try #require(try await clients.next())
                #expect(polite.code == .goingAway)
                #expect(polite.wasClean)
            }
        }
    }

    /// Records, on each connection's event loop, when it opened and when it ended: timestamps
    /// taken there do not depend on how busy the test's task pool is.
    struct ClosingTimes: WebSocketEventLoopHandler {
        let opened: AsyncStream<Void>.Continuation
        let closed: AsyncStream<(CloseOutcome, ContinuousClock.Instant)>.Continuation

        /// Counts a client once its hello arrived: counted at the upgrade, a client could get its
        /// 1001 (the first goes at once) before it sent the hello, whose send then fails.
        func received(_ message: WebSocketMessage, on connection: EventLoopWebSocket) { opened.yield() }
        func connectionClosed(_ connection: EventLoopWebSocket, outcome: CloseOutcome) {
            closed.yield((outcome, .now))
        }
    }

    @Test("with a spread, the 1001s go out across the window and each carries a retry hint")
    func spreadShutdown() async throws {
        let count = 50
        let window = Duration.seconds(1)
        let (opened, openedSink) = AsyncStream.makeStream(of: Void.self)
        let (closed, closedSink) = AsyncStream.makeStream(of: (CloseOutcome, ContinuousClock.Instant).self)
        var configuration = Self.configuration(spread: .seconds(1))
        configuration.port = 0
        // The server and its clients on event loops of their own: on the shared ones, the work of
        // every test running in parallel delays the spread's timers and the clients' answers
        // alike, and the closes bunch for reasons that are not the server's.
        configuration.threads = 1
        let clientLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = WebSocketServer(configuration: configuration, logger: silentLogger,
                                     eventLoopHandler: ClosingTimes(opened: openedSink, closed: closedSink))
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask { try await server.run() }
                let port = try #require(try await withTimeout("the server to listen") { try await server.listeningAddress }.port)
                for index in 0..<count {
                    group.addTask {
                        try await WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/client/\(index)",
                                                          configuration: .init(webSocket: testWebSocketConfiguration(),
                                                                               connectTimeout: .seconds(60)),
                                                          eventLoopGroup: clientLoops, logger: silentLogger) { ws in
                            try await ws.send(text: "hello")
                            for await _ in ws.messages {}
                        }
                    }
                }
                _ = try await collect(count, of: opened, "every client's hello")
                let report = try await withTimeout("the shutdown") { await server.shutdown() }
                #expect(report == ShutdownReport(closedCleanly: count, cut: 0))

                let results = try await collect(count, of: closed, "every connection's end")
                let outcomes = results.map(\.0)
                #expect(outcomes.allSatisfy { $0.sent?.code == .goingAway && $0.wasClean })
                #expect(outcomes.allSatisfy { $0.sent?.reason.hasPrefix("server shutting down") == true })
                let hints = Set(outcomes.map { $0.sent?.retryHint })
                #expect(hints == [window], "every reason carries `retry in 1000 ms`")

                let times = results.map(\.1).sorted()
                let span = times.first!.duration(to: times.last!)
                #expect(span >= window / 2, "the closes came within \(span)")
                #expect(span < window * 3, "the closes came within \(span)")
                // Spread, not bunched: no tenth of the window sees half of the closes.
                let busiest = times.indices.map { start in
                    times[start...].prefix { times[start].duration(to: $0) < window / 10 }.count
                }.max()!
                #expect(busiest < count / 2, "\(busiest) closes within \(window / 10)")
                try await group.waitForAll()
            }
        } catch {
            try? await clientLoops.shutdownGracefully()
            throw error
        }
        try await clientLoops.shutdownGracefully()
    }

    @Test("a service-lifecycle graceful shutdown sends 1001 and run() returns once drained")
    func serviceGracefulShutdown() async throws {
        let count = 3
        let (received, handler) = Self.recording()
        let server = WebSocketServer(configuration: Self.configuration(), logger: silentLogger, handler: handler)
        try await testGracefulShutdown { trigger in
            let (runEnded, runSink) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await server.run()
                    runSink.yield()
                }
                let port = try #require(try await withTimeout("the server to listen") {
                    try await server.listeningAddress
                }.port)
                let outcomes = try await withThrowingTaskGroup(of: CloseOutcome.self) { clients in
                    for index in 0..<count {
                        clients.addTask { try await Self.client(port: port, path: "/client/\(index)").0 }
                    }
                    _ = try await collect(count, of: received, "a hello from every client")
                    trigger.triggerGracefulShutdown()
                    var outcomes: [CloseOutcome] = []
                    for try await outcome in clients { outcomes.append(outcome) }
                    return outcomes
                }
                #expect(outcomes.count == count)
                #expect(outcomes.allSatisfy { $0.code == .goingAway && $0.wasClean })
                // run() returns on its own, without being cancelled.
                try await first(of: runEnded, "run() to return")
                #expect(await server.stopped() == ShutdownReport(closedCleanly: count, cut: 0))
            }
        }
    }
}
