import Holdfast
import HoldfastChannels
import HoldfastTestSupport
import NIOCore
import Testing

/// Runs a channels server — a ``ChannelHub`` over `store` behind a ``WebSocketServer`` on a free
/// loopback port — for the duration of `body`, which gets the hub and the port.
func withChannelServer<Result: Sendable>(
    store: any ChannelStore = InMemoryChannelStore(), configuration: ChannelHubConfiguration = .init(),
    webSocket: WebSocketConfiguration = testWebSocketConfiguration(),
    _ body: (_ hub: ChannelHub, _ port: Int) async throws -> Result
) async throws -> Result {
    let hub = ChannelHub(store: store, configuration: configuration, logger: silentLogger)
    let server = WebSocketServer(configuration: .init(port: 0, webSocket: webSocket, subprotocols: [channelsSubprotocol]),
                                 logger: silentLogger, eventLoopHandler: ChannelsHandler<Void>(hub: hub))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await hub.run() }
        group.addTask { try await server.run() }
        defer { group.cancelAll() }
        let address = try await withTimeout("the server to listen") { try await server.listeningAddress }
        return try await body(hub, try #require(address.port))
    }
}

/// A connection speaking the channels protocol by hand: what it sends and reads are the
/// protocol's messages, so tests see the server's answers exactly. Suites that use it set a time
/// limit: a message that never comes ends the test there.
struct ChannelsPeer {
    struct ConnectionEnded: Error {}

    let webSocket: WebSocket
    private var incoming: WebSocketMessages.AsyncIterator

    init(_ webSocket: WebSocket) {
        self.webSocket = webSocket
        self.incoming = webSocket.messages.makeAsyncIterator()
    }

    func send(_ message: ChannelsClientMessage) async throws {
        try await webSocket.send(message.encoded)
    }

    /// The next message from the server, as sent.
    mutating func nextRaw() async throws -> WebSocketMessage {
        guard let message = await incoming.next() else { throw ConnectionEnded() }
        return message
    }

    /// The next message from the server, decoded.
    mutating func next() async throws -> ChannelsServerMessage {
        try ChannelsServerMessage.decode(try await nextRaw())
    }

    /// Whether the connection ends without another message.
    mutating func ends() async -> Bool {
        await incoming.next() == nil
    }
}

/// Connects to a channels server on `port`, offering the channels subprotocol.
func withChannelsPeer<Result: Sendable>(port: Int, maxMessageSize: Int = WebSocketConfiguration.defaultMaxMessageSize,
                                        _ body: (inout ChannelsPeer) async throws -> Result) async throws -> Result {
    try await connect("ws://127.0.0.1:\(port)/", subprotocols: [channelsSubprotocol], maxMessageSize: maxMessageSize) { webSocket in
        var peer = ChannelsPeer(webSocket)
        return try await body(&peer)
    }
}
