import Holdfast
import HoldfastTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// A ``ReconnectingWebSocket`` against real servers that shut down and come back on the same
/// port. Backoff waits run on a ``ManualClock`` the test moves, with a seeded jitter source.
@Suite(.timeLimit(.minutes(1)))
struct ReconnectTests {
    static let seed: UInt64 = 0x1001

    /// A handler that reports every text message as `name text`.
    static func recording(_ name: String, into sink: AsyncStream<String>.Continuation)
        -> @Sendable (WebSocket) async throws -> Void
    {
        { ws in
            for await message in ws.messages { sink.yield("\(name) \(message.text ?? "<binary>")") }
        }
    }

    static func client(port: Int, policy: ReconnectPolicy, clock: any Clock<Duration>,
                       seed: UInt64 = seed) -> ReconnectingWebSocket {
        let client = WebSocketClientConfiguration(webSocket: testWebSocketConfiguration(), connectTimeout: .seconds(5))
        return ReconnectingWebSocket(url: "ws://127.0.0.1:\(port)/feed",
                                     configuration: .init(client: client, policy: policy), clock: clock,
                                     randomSource: SeededRandomNumberGenerator(seed: seed), logger: silentLogger)
    }

    /// The delays the client draws, attempt after attempt, from the same seeded source, after
    /// `disconnection` (`nil`: failures to connect).
    static func expectedDelays(_ policy: ReconnectPolicy, count: Int, after disconnection: ReconnectPolicy.Disconnection? = nil,
                               seed: UInt64 = seed) -> [Duration] {
        var random = SeededRandomNumberGenerator(seed: seed)
        return (0..<count).map { policy.delay(forAttempt: $0, after: disconnection, using: &random) }
    }

    static func nextEvent(_ ws: ReconnectingWebSocket) async throws -> ReconnectEvent {
        try await first(of: ws.events, "the client's next event")
    }

    /// Every event until the stream ends (``ReconnectingWebSocket/run()`` has returned).
    static func remainingEvents(_ ws: ReconnectingWebSocket) async throws -> [ReconnectEvent] {
        try await withTimeout("the client's events to end") {
            var events: [ReconnectEvent] = []
            for await event in ws.events { events.append(event) }
            return events
        }
    }

    /// The close outcome of a `.disconnected(.closed(_))` event.
    static func closeOutcome(of event: ReconnectEvent) -> CloseOutcome? {
        guard case .disconnected(.closed(let outcome)) = event else { return nil }
        return outcome
    }

    // MARK: - Across a restart

    @Test("a server restart: disconnected(1001), waiting the seeded backoff on the test's clock, connected again")
    func reconnectsAcrossRestart() async throws {
        let clock = ManualClock()
        let policy = ReconnectPolicy(initialDelay: .milliseconds(500), maximumDelay: .seconds(5))
        let (received, sink) = AsyncStream.makeStream(of: String.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            let (first, port) = try await startServer(in: &group, handler: Self.recording("first", into: sink))
            let ws = Self.client(port: port, policy: policy, clock: clock)
            group.addTask { try await ws.run() }

            #expect(try await Self.nextEvent(ws) == .connecting(attempt: 0))
            #expect(try await Self.nextEvent(ws) == .connected)
            try await ws.send(text: "one")
            #expect(try await collect(1, of: received, "the first message") == ["first one"])

            #expect(await first.shutdown() == ShutdownReport(closedCleanly: 1, cut: 0))
            let disconnected = try await Self.nextEvent(ws)
            let outcome = try #require(Self.closeOutcome(of: disconnected), "\(disconnected)")
            #expect(outcome.code == .goingAway)
            #expect(outcome.reason == "server shutting down")
            #expect(outcome.wasClean)

            // A server going away gets the wider first window.
            let delay = Self.expectedDelays(policy, count: 1, after: .closed(outcome))[0]
            #expect(policy.ceiling(forAttempt: 0, after: .closed(outcome)) == .seconds(2))
            #expect(try await Self.nextEvent(ws) == .waiting(attempt: 1, delay: delay))

            // Messages sent now wait in the outbox. Each sender starts once the one before it is
            // about to send, so they join the outbox in their order.
            let (aboutToSend, aboutToSendSink) = AsyncStream.makeStream(of: Int.self)
            for index in 0..<5 {
                group.addTask {
                    aboutToSendSink.yield(index)
                    try await ws.send(text: "queued \(index)")
                }
                #expect(try await collect(1, of: aboutToSend, "sender \(index) to start") == [index])
            }

            _ = try await startServer(in: &group, port: port, handler: Self.recording("second", into: sink))
            // The client sleeps exactly the delay it announced, on the test's clock.
            let slept = try await withTimeout("the client to sleep") { try await clock.advanceToNextDeadline() }
            #expect(slept == delay)
            #expect(try await Self.nextEvent(ws) == .connecting(attempt: 1))
            #expect(try await Self.nextEvent(ws) == .connected)

            #expect(try await collect(5, of: received, "the queued messages")
                    == (0..<5).map { "second queued \($0)" })
            try await ws.send(text: "two")
            #expect(try await collect(1, of: received, "a message after the reconnect") == ["second two"])
            #expect(clock.sleeperCount == 0)
        }
    }

    @Test("a retry hint below the floor (10 ms) is raised to the policy's minimum, 100 ms")
    func retryHintFloor() async throws {
        let clock = ManualClock()
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(),
                                                         shutdownSpread: .milliseconds(10))
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            // The handler stays until the connection ends: the close is the shutdown's.
            let (server, port) = try await startServer(in: &group, configuration: configuration,
                                                       handler: { ws in for await _ in ws.messages {} })
            let ws = Self.client(port: port, policy: ReconnectPolicy(), clock: clock)
            group.addTask { try await ws.run() }
            #expect(try await Self.nextEvent(ws) == .connecting(attempt: 0))
            #expect(try await Self.nextEvent(ws) == .connected)
            await server.shutdown()
            let outcome = try #require(Self.closeOutcome(of: try await Self.nextEvent(ws)))
            #expect(outcome.reason == "server shutting down; retry in 10 ms")
            #expect(try await Self.nextEvent(ws) == .waiting(attempt: 1, delay: .milliseconds(100)))
        }
    }

    @Test("the retry hint of a spread shutdown is the delay the client waits")
    func honoursRetryHint() async throws {
        let clock = ManualClock()
        let policy = ReconnectPolicy(initialDelay: .seconds(5), maximumDelay: .seconds(30))
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(),
                                                         shutdownSpread: .milliseconds(700))
        let (received, sink) = AsyncStream.makeStream(of: String.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            let (first, port) = try await startServer(in: &group, configuration: configuration,
                                                      handler: Self.recording("first", into: sink))
            let ws = Self.client(port: port, policy: policy, clock: clock)
            group.addTask { try await ws.run() }
            #expect(try await Self.nextEvent(ws) == .connecting(attempt: 0))
            #expect(try await Self.nextEvent(ws) == .connected)

            await first.shutdown()
            let outcome = try #require(Self.closeOutcome(of: try await Self.nextEvent(ws)))
            #expect(outcome.code == .goingAway)
            #expect(outcome.reason == "server shutting down; retry in 700 ms")
            #expect(try await Self.nextEvent(ws) == .waiting(attempt: 1, delay: .milliseconds(700)))

            _ = try await startServer(in: &group, port: port, handler: Self.recording("second", into: sink))
            let slept = try await withTimeout("the client to sleep") { try await clock.advanceToNextDeadline() }
            #expect(slept == .milliseconds(700))
            #expect(try await Self.nextEvent(ws) == .connecting(attempt: 1))
            #expect(try await Self.nextEvent(ws) == .connected)
            try await ws.send(text: "back")
            #expect(try await collect(1, of: received, "a message after the reconnect") == ["second back"])
        }
    }

    // MARK: - Endings that are not retried

    /// How a server ends a connection the client should not retry.
    enum Refusal: Sendable, CustomTestStringConvertible {
        case close(UInt16)
        case httpStatus(HTTPResponseStatus)

        var testDescription: String {
            switch self {
            case .close(let code): return "close \(code)"
            case .httpStatus(let status): return "HTTP \(status.code)"
            }
        }
    }

    @Test("no retry after an ending the same attempt would meet again: gaveUp, and run() throws it",
          arguments: [Refusal.close(1000), .close(1002), .close(1003), .close(1008), .close(4000),
                      .httpStatus(.forbidden), .httpStatus(.notFound)])
    func noRetry(_ refusal: Refusal) async throws {
        let clock = ManualClock()
        var configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration())
        if case .httpStatus(let status) = refusal {
            configuration.shouldUpgrade = { _ in .reject(status: status, reason: "not for you") }
        }
        let handler: @Sendable (WebSocket) async throws -> Void = { ws in
            if case .close(let code) = refusal { await ws.close(code: CloseCode(code), reason: "bye") }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            let (_, port) = try await startServer(in: &group, configuration: configuration, handler: handler)
            let ws = Self.client(port: port, policy: ReconnectPolicy(initialDelay: .milliseconds(1)), clock: clock)
            let thrown = await #expect(throws: ReconnectingWebSocket.ConnectionEnded.self) {
                try await withTimeout("run() to give up") { try await ws.run() }
            }
            let events = try await Self.remainingEvents(ws)
            let ending: ReconnectPolicy.Disconnection
            switch refusal {
            case .close(let code):
                #expect(events.count == 4, "\(events)")
                #expect(events.prefix(2) == [.connecting(attempt: 0), .connected])
                let outcome = try #require(events.count > 2 ? Self.closeOutcome(of: events[2]) : nil, "\(events)")
                #expect(outcome.code == CloseCode(code))
                #expect(outcome.reason == "bye")
                ending = .closed(outcome)
            case .httpStatus(let status):
                ending = .rejected(status: Int(status.code))
                #expect(events.prefix(2) == [.connecting(attempt: 0), .disconnected(ending)])
                #expect(events.count == 3, "\(events)")
            }
            #expect(events.last == .gaveUp(ending))
            #expect(thrown?.ending == ending)
            #expect(clock.sleeperCount == 0, "the client never waited to retry")
        }
    }

    @Test("maximumAttempts: retries against a closed port stop after that many, with gaveUp")
    func maximumAttempts() async throws {
        let clock = ManualClock()
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), maximumAttempts: 2)
        // A port that was free a moment ago and that nothing listens on now.
        let port = try await withRunningServer(handler: { _ in }) { server, port in
            await server.shutdown()
            return port
        }
        let ws = Self.client(port: port, policy: policy, clock: clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (runResult, runSink) = AsyncStream.makeStream(of: (any Error)?.self)
            group.addTask {
                do {
                    try await ws.run()
                    runSink.yield(nil)
                } catch {
                    runSink.yield(error)
                }
            }
            var events: [ReconnectEvent] = []
            var slept: [Duration] = []
            // Bounded: 2 retries give 9 events; a client that never gave up would stop here.
            for _ in 0..<12 {
                guard let event = try? await Self.nextEvent(ws) else { break }
                events.append(event)
                if case .waiting = event {
                    slept.append(try await withTimeout("the client to sleep") { try await clock.advanceToNextDeadline() })
                }
            }
            let delays = Self.expectedDelays(policy, count: 2)
            let shapes = events.map { event -> String in
                switch event {
                case .connecting(let attempt): return "connecting \(attempt)"
                case .connected: return "connected"
                case .disconnected(.connectFailed): return "connect failed"
                case .disconnected(let other): return "disconnected \(other)"
                case .waiting(let attempt, let delay): return "waiting \(attempt) \(delays.indices.contains(attempt - 1) && delay == delays[attempt - 1])"
                case .gaveUp(.connectFailed): return "gave up"
                case .gaveUp(let other): return "gave up \(other)"
                }
            }
            #expect(shapes == ["connecting 0", "connect failed", "waiting 1 true",
                               "connecting 1", "connect failed", "waiting 2 true",
                               "connecting 2", "connect failed", "gave up"])
            #expect(slept == delays)
            let error = try await first(of: runResult, "run() to return")
            let ended = try #require(error as? ReconnectingWebSocket.ConnectionEnded, "\(String(describing: error))")
            guard case .connectFailed(let reason) = ended.ending else {
                Issue.record("run() ended with \(ended.ending)")
                return
            }
            // One line a person can act on, not NIO's dump of the error.
            #expect(reason == "connection refused")
        }
    }

    // MARK: - Going away

    @Test("cancelling run() closes the connection with 1001, as the server sees it")
    func cancellationSendsGoingAway() async throws {
        let clock = ManualClock()
        let (serverOutcomes, outcomeSink) = AsyncStream.makeStream(of: CloseOutcome.self)
        let (received, sink) = AsyncStream.makeStream(of: String.self)
        let record = Self.recording("server", into: sink)
        try await withRunningServer(handler: { ws in
            try await record(ws)
            outcomeSink.yield(await ws.closeOutcome)
        }) { _, port in
            let ws = Self.client(port: port, policy: ReconnectPolicy(), clock: clock)
            try await withThrowingTaskGroup(of: Void.self) { client in
                client.addTask { try await ws.run() }
                #expect(try await Self.nextEvent(ws) == .connecting(attempt: 0))
                #expect(try await Self.nextEvent(ws) == .connected)
                try await ws.send(text: "hello")
                #expect(try await collect(1, of: received, "the hello") == ["server hello"])

                client.cancelAll()
                // run() returns without an error when cancelled.
                try await client.waitForAll()
            }
            let serverOutcome = try await first(of: serverOutcomes, "the server's close outcome")
            #expect(serverOutcome.received == CloseFrame(code: .goingAway, reason: "client going away"))
            #expect(serverOutcome.code == .goingAway)
            #expect(serverOutcome.wasClean)

            let events = try await Self.remainingEvents(ws)
            #expect(events.count == 1, "no reconnect after a cancellation: \(events)")
            let outcome = try #require(events.first.flatMap(Self.closeOutcome(of:)), "\(events)")
            #expect(outcome.sent?.code == .goingAway)
            #expect(clock.sleeperCount == 0)
        }
    }

    // MARK: - End to end

    @Test("a message every 10 ms across two server restarts: every message arrives once, in order")
    func nothingLostAcrossRestarts() async throws {
        let count = 150
        let restartsAfter = [40, 90]
        let policy = ReconnectPolicy(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200))
        let (received, sink) = AsyncStream.makeStream(of: String.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            var (server, port) = try await startServer(in: &group, handler: Self.recording("server 0", into: sink))
            let ws = Self.client(port: port, policy: policy, clock: ContinuousClock())
            group.addTask { try await ws.run() }
            group.addTask {
                for number in 0..<count {
                    try await ws.send(text: "\(number)")
                    try await Task.sleep(for: .milliseconds(10))
                }
            }

            var arrivals: [String] = []
            for (restart, threshold) in restartsAfter.enumerated() {
                // Generous limits: a loaded machine may delay delivery, never lose or reorder it.
                arrivals += try await collect(threshold - arrivals.count, of: received, "messages up to \(threshold)",
                                              limit: .seconds(30))
                await server.shutdown()
                (server, port) = try await startServer(in: &group, port: port,
                                                       handler: Self.recording("server \(restart + 1)", into: sink))
            }
            arrivals += try await collect(count - arrivals.count, of: received, "the rest of the messages",
                                          limit: .seconds(30))

            let numbers = arrivals.map { Int($0.split(separator: " ").last!)! }
            #expect(numbers == Array(0..<count), "every message once, in order")
            // Each server got a share: the restarts happened while the client was sending.
            let servers = Set(arrivals.map { $0.split(separator: " ").prefix(2).joined(separator: " ") })
            #expect(servers == ["server 0", "server 1", "server 2"])

            ws.close()
            try await withTimeout("the client to stop") {
                for await _ in ws.events {}
            }
        }
    }
}
