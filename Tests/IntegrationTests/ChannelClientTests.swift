import Holdfast
import HoldfastChannels
import HoldfastTestSupport
import NIOCore
import Testing

/// ``ChannelClient`` against a ``ChannelHub`` that restarts on the same port: delivery exactly
/// once and in order across reconnects, gaps when the history is gone, publishes kept until
/// acknowledged.
@Suite("Channel client — resume by offset across restarts, gaps, publishes kept until acknowledged",
       .timeLimit(.minutes(1)))
struct ChannelClientTests {
    /// Reconnects within a few tens of milliseconds, so restarts do not slow the tests down.
    static let quickReconnect = ReconnectPolicy(initialDelay: .milliseconds(20),
                                                serverRestartInitialDelay: .milliseconds(20),
                                                minimumRetryHint: .milliseconds(10), maximumDelay: .milliseconds(100))

    static func client(port: Int) -> ChannelClient {
        let connection = WebSocketClientConfiguration(webSocket: testWebSocketConfiguration(), connectTimeout: .seconds(5))
        return ChannelClient(url: "ws://127.0.0.1:\(port)/",
                             configuration: .init(connection: .init(client: connection, policy: quickReconnect)),
                             logger: silentLogger)
    }

    /// Starts a hub over `store` behind a server on `port` (0: a free one), both running in `group`.
    static func startChannelServer(in group: inout ThrowingTaskGroup<Void, any Error>, store: any ChannelStore,
                                   port: Int = 0) async throws -> (server: WebSocketServer, hub: ChannelHub, port: Int) {
        let hub = ChannelHub(store: store, logger: silentLogger)
        let configuration = WebSocketServerConfiguration(host: "127.0.0.1", port: port, webSocket: testWebSocketConfiguration(),
                                                         subprotocols: [channelsSubprotocol])
        group.addTask { try await hub.run() }
        var lastError: (any Error)?
        // The port of a server just shut down may take a moment to be free again.
        for _ in 0..<20 {
            let server = WebSocketServer(configuration: configuration, logger: silentLogger,
                                         eventLoopHandler: ChannelsHandler<Void>(hub: hub))
            group.addTask { try? await server.run() }
            do {
                let address = try await withTimeout("the server to listen") { try await server.listeningAddress }
                return (server, hub, try #require(address.port))
            } catch let error as TimeoutError {
                throw error
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        throw lastError ?? TimeoutError(what: "a free port", limit: .seconds(1))
    }

    /// The subscription's events as a stream `first(of:)` can wait on.
    static func forward(_ subscription: ChannelSubscription, in group: inout ThrowingTaskGroup<Void, any Error>)
        -> AsyncStream<SubscriptionEvent>
    {
        let (events, sink) = AsyncStream.makeStream(of: SubscriptionEvent.self)
        group.addTask {
            defer { sink.finish() }
            for try await event in subscription { sink.yield(event) }
        }
        return events
    }

    static func next(_ events: AsyncStream<SubscriptionEvent>, _ what: String) async throws -> SubscriptionEvent {
        try await first(of: events, what)
    }

    static func publication(_ text: String, at offset: UInt64, epoch: String, channel: ChannelName = "room") -> SubscriptionEvent {
        .publication(ChannelPublication(channel: channel, position: StreamPosition(epoch: epoch, offset: offset),
                                        message: .text(text)))
    }

    /// Waits until the client's connection event satisfies `matches`.
    static func waitFor(_ events: AsyncStream<ReconnectEvent>, _ what: String,
                        _ matches: @escaping @Sendable (ReconnectEvent) -> Bool) async throws {
        try await withTimeout(what) {
            for await event in events where matches(event) { return }
            throw StreamEndedError(what: what)
        }
    }

    static func isConnected(_ event: ReconnectEvent) -> Bool { event == .connected }

    static func isDisconnected(_ event: ReconnectEvent) -> Bool {
        if case .disconnected = event { return true }
        return false
    }

    /// A client subscribed to `room` that published and received `published` there, after which
    /// its server shut down; returns once the client saw it go.
    struct ClientAway {
        let client: ChannelClient
        let connection: AsyncStream<ReconnectEvent>
        let room: AsyncStream<SubscriptionEvent>
        let port: Int
    }

    static func clientAway(in group: inout ThrowingTaskGroup<Void, any Error>, store: InMemoryChannelStore,
                           published: [String]) async throws -> ClientAway {
        let (server, _, port) = try await startChannelServer(in: &group, store: store)
        let client = Self.client(port: port)
        let connection = client.connectionEvents
        group.addTask { try await client.run() }
        // From the stream's start: a fresh subscription begins where the hub reads the stream,
        // which may be after the publishes that follow it on the connection.
        let room = forward(try client.subscribe("room", since: StreamPosition(epoch: store.epoch, offset: 0)), in: &group)
        for text in published { _ = try await client.publish(.text(text), to: "room") }
        for (index, text) in published.enumerated() {
            #expect(try await next(room, text) == publication(text, at: UInt64(index + 1), epoch: store.epoch))
        }
        _ = await server.shutdown()
        try await waitFor(connection, "the client to see the server go", isDisconnected)
        return ClientAway(client: client, connection: connection, room: room, port: port)
    }

    @Test("subscribe and publish: the ack and the delivered publication name the same place")
    func roundTrip() async throws {
        let store = InMemoryChannelStore()
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            let (_, _, port) = try await Self.startChannelServer(in: &group, store: store)
            let client = Self.client(port: port)
            group.addTask { try await client.run() }
            let room = Self.forward(try client.subscribe("room", since: StreamPosition(epoch: store.epoch, offset: 0)),
                                    in: &group)
            let ack = try await client.publish(.text("hi"), to: "room")
            #expect(ack.position == StreamPosition(epoch: store.epoch, offset: 1))
            #expect(!ack.duplicate)
            #expect(ack.id?.isEmpty == false)
            #expect(try await Self.next(room, "the publication") == Self.publication("hi", at: 1, epoch: store.epoch))
            #expect(throws: ChannelClientError.alreadySubscribed("room")) { try client.subscribe("room") }
            client.close()
        }
    }

    @Test("after a restart with the same store the client resumes, recovered, and delivers each publication once, in order")
    func resumesAcrossRestart() async throws {
        let store = InMemoryChannelStore()
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            let away = try await Self.clientAway(in: &group, store: store, published: ["m1", "m2"])
            let (client, room, port) = (away.client, away.room, away.port)
            // Published by others while the client is away.
            _ = try await store.append((3...5).map { ChannelPublishRequest(channel: "room", message: .text("m\($0)")) })

            let (_, hub, _) = try await Self.startChannelServer(in: &group, store: store, port: port)
            try await Self.waitFor(away.connection, "the client to connect again", Self.isConnected)
            let ack = try await client.publish(.text("m6"), to: "room")
            #expect(ack.position == StreamPosition(epoch: store.epoch, offset: 6))
            for index in 3...6 {
                #expect(try await Self.next(room, "m\(index)") == Self.publication("m\(index)", at: UInt64(index), epoch: store.epoch))
            }
            #expect(hub.statistics.recoveries == 1)
            #expect(hub.statistics.recoveriesFailed == 0)
            client.close()
        }
    }

    @Test("after a restart with a new store the client reports a gap into the new epoch, then delivers from offset 1")
    func gapWithNewStore() async throws {
        let oldStore = InMemoryChannelStore()
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            let away = try await Self.clientAway(in: &group, store: oldStore, published: ["m1", "m2"])
            let (client, room, port) = (away.client, away.room, away.port)
            let newStore = InMemoryChannelStore()
            let (_, hub, _) = try await Self.startChannelServer(in: &group, store: newStore, port: port)

            let gap = ChannelGap(channel: "room", lastDelivered: StreamPosition(epoch: oldStore.epoch, offset: 2),
                                 resumesAt: StreamPosition(epoch: newStore.epoch, offset: 1))
            #expect(try await Self.next(room, "the gap") == .gap(gap))
            let ack = try await client.publish(.text("fresh"), to: "room")
            #expect(ack.position == StreamPosition(epoch: newStore.epoch, offset: 1))
            #expect(try await Self.next(room, "fresh") == Self.publication("fresh", at: 1, epoch: newStore.epoch))
            #expect(hub.statistics.recoveriesFailed == 1)
            client.close()
        }
    }

    @Test("publishes made while disconnected go out in order after the reconnect and are acknowledged in order")
    func publishesWhileDisconnected() async throws {
        let store = InMemoryChannelStore()
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            let away = try await Self.clientAway(in: &group, store: store, published: ["before"])
            let (client, room, port) = (away.client, away.room, away.port)
            let (acks, ackSink) = AsyncStream.makeStream(of: (Int, ChannelPublishAck).self)
            // Each publish joins the outbox before the next one starts, so their order is known.
            for index in 1...3 {
                group.addTask {
                    ackSink.yield((index, try await client.publish(.text("queued \(index)"), to: "room")))
                }
                try await withTimeout("publish \(index) to join the outbox") {
                    while client.outboxCount < index { try await Task.sleep(for: .milliseconds(5)) }
                }
            }

            _ = try await Self.startChannelServer(in: &group, store: store, port: port)
            var positions: [Int: UInt64] = [:]
            for _ in 1...3 {
                let (index, ack) = try await first(of: acks, "an ack")
                positions[index] = ack.position.offset
            }
            #expect(positions == [1: 2, 2: 3, 3: 4])
            for index in 1...3 {
                #expect(try await Self.next(room, "queued \(index)")
                        == Self.publication("queued \(index)", at: UInt64(index + 1), epoch: store.epoch))
            }
            #expect(client.outboxCount == 0)
            client.close()
        }
    }

    @Test("a publish over the server's announced message limit fails before it is sent")
    func publishOverLimit() async throws {
        try await withChannelServer(webSocket: testWebSocketConfiguration(maxMessageSize: 1024)) { _, port in
            let client = Self.client(port: port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                let connection = client.connectionEvents
                group.addTask { try await client.run() }
                try await Self.waitFor(connection, "the client to connect", Self.isConnected)
                await #expect {
                    try await client.publish(.binary(ByteBuffer(repeating: 7, count: 2000)), to: "room")
                } throws: { error in
                    guard case .tooBig(let refusal) = error as? ChannelPublishFailure else { return false }
                    return refusal.peerLimit == 1024
                }
                let ack = try await client.publish(.text("small"), to: "room")
                #expect(ack.position.offset == 1)
                client.close()
            }
        }
    }

    @Test("ending the iteration of a subscription unsubscribes it at the hub")
    func endingIterationUnsubscribes() async throws {
        try await withChannelServer { hub, port in
            let client = Self.client(port: port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask { try await client.run() }
                let reader = Task {
                    for try await _ in try client.subscribe("room") {}
                }
                try await withTimeout("the hub to count the subscription") {
                    while hub.statistics.subscriptions != 1 { try await Task.sleep(for: .milliseconds(5)) }
                }
                reader.cancel()
                try await withTimeout("the hub to drop the subscription") {
                    while hub.statistics.subscriptions != 0 { try await Task.sleep(for: .milliseconds(5)) }
                }
                // The channel can be subscribed to again.
                _ = try client.subscribe("room")
                client.close()
            }
        }
    }

    @Test("a server that does not agree on the channels subprotocol stops the client with subprotocolNotAgreed")
    func plainServerRefused() async throws {
        try await withServer(handler: echo) { port in
            let client = Self.client(port: port)
            await #expect(throws: ChannelClientError.subprotocolNotAgreed(nil)) {
                try await withTimeout("the client to stop") { try await client.run() }
            }
            #expect(throws: ChannelClientError.subprotocolNotAgreed(nil)) { try client.subscribe("room") }
        }
    }

    @Test("a restart in the middle of 40 publishes: the subscriber gets offsets 1…40 once each, in publish order")
    func restartUnderTraffic() async throws {
        let store = InMemoryChannelStore()
        let count = 40
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            let (firstServer, _, port) = try await Self.startChannelServer(in: &group, store: store)
            let subscriber = Self.client(port: port)
            let publisher = Self.client(port: port)
            group.addTask { try await subscriber.run() }
            group.addTask { try await publisher.run() }
            let room = Self.forward(try subscriber.subscribe("room", since: StreamPosition(epoch: store.epoch, offset: 0)),
                                    in: &group)
            let (acknowledged, acknowledgedSink) = AsyncStream.makeStream(of: Int.self)
            let (goOn, goOnSink) = AsyncStream.makeStream(of: Void.self)
            group.addTask {
                for index in 1...count {
                    // The rest is published from the moment the server goes: some wait for the
                    // next connection, some go to it.
                    if index == 11 { for await _ in goOn { break } }
                    _ = try await publisher.publish(.text("m\(index)"), to: "room")
                    acknowledgedSink.yield(index)
                }
            }
            try await withTimeout("ten acknowledgements", limit: .seconds(30)) {
                for await index in acknowledged where index == 10 { return }
            }
            _ = await firstServer.shutdown()
            goOnSink.yield()
            let (_, secondHub, _) = try await Self.startChannelServer(in: &group, store: store, port: port)
            var received: [SubscriptionEvent] = []
            for index in 1...count { received.append(try await Self.next(room, "m\(index)")) }
            #expect(received == (1...count).map { Self.publication("m\($0)", at: UInt64($0), epoch: store.epoch) })
            #expect(secondHub.statistics.published == count - 10)
            subscriber.close()
            publisher.close()
        }
    }
}
