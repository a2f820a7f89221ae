import Holdfast
import HoldfastTestSupport
import NIOCore
import Testing

/// The reconnecting client's outbox: bounded, and fitted to the limit the server announces.
@Suite(.timeLimit(.minutes(1)))
struct OutboxTests {
    /// Waits (bounded) until `condition` holds, yielding between checks.
    static func eventually(_ what: String, _ condition: @escaping @Sendable () -> Bool) async throws {
        try await withTimeout(what) {
            while !condition() { await Task.yield() }
        }
    }

    @Test("a full outbox refuses the newest message at once and keeps what it holds")
    func fullOutboxRefusesNewest() async throws {
        // Nothing listens on port 1: the client stays disconnected, waiting on a clock that never moves.
        let clock = ManualClock()
        let client = ReconnectingWebSocket(
            url: "ws://127.0.0.1:1/", configuration: .init(outboxMaxMessages: 2), clock: clock,
            randomSource: SeededRandomNumberGenerator(seed: 7))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.run() }
            let queued = [1, 2]
            for number in queued {
                group.addTask { try? await client.send(text: "message \(number)") }
                try await Self.eventually("message \(number) queued") { client.outboxCount == number }
            }
            await #expect(throws: ReconnectingWebSocket.OutboxFull.self) {
                try await client.send(text: "one too many")
            }
            #expect(client.outboxCount == 2, "what the outbox held is kept")
            group.cancelAll()
        }
    }

    @Test("after connecting, a queued message over the announced limit fails with a typed error; the rest go out")
    func overLimitMessageFailsAfterConnect() async throws {
        let limit = 1000
        let (received, handler) = ShutdownTests.recording()
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(maxMessageSize: limit))
        try await withRunningServer(configuration: configuration, handler: handler) { _, port in
            let client = ReconnectingWebSocket(url: "ws://127.0.0.1:\(port)/limit")
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Queued before the first connection: the limit is not known yet.
                let big = Task { try await client.send(.binary(pattern(limit + 1))) }
                try await Self.eventually("the big message queued") { client.outboxCount == 1 }
                let small = Task { try await client.send(text: "small") }
                try await Self.eventually("the small message queued") { client.outboxCount == 2 }
                group.addTask { try? await client.run() }

                let error = await #expect(throws: WebSocketError.self) { try await big.value }
                #expect(error?.isMessageTooBig == true)
                #expect(error?.peerLimit == limit)
                try await small.value
                #expect(try await collect(1, of: received, "the small message") == ["/limit small"])
                group.cancelAll()
            }
        }
    }
}
