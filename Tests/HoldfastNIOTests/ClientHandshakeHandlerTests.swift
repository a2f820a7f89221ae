import HoldfastCore
import HoldfastNIO
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// The client's handshake handler on an `EmbeddedChannel`: the request it sends, and its
/// timeout, which lives in its waiting state and ends with it.
@Suite("Client handshake over EmbeddedChannel (RFC 6455 §4.1)")
struct ClientHandshakeHandlerTests {
    struct Client {
        let channel = EmbeddedChannel()
        let handshake: ClientHandshake
        let upgraded: EventLoopFuture<UpgradedConnection>

        init(timeout: TimeAmount = .seconds(5)) throws {
            var random = SystemRandomNumberGenerator()
            handshake = ClientHandshake(randomSource: &random)
            let promise = channel.eventLoop.makePromise(of: UpgradedConnection.self)
            upgraded = promise.futureResult
            let url = try WebSocketURL("ws://example.com/chat")
            try ClientHandshakeHandler.configure(channel, handshake: handshake, requestHead: handshake.requestHead(for: url),
                                                 configuration: .init(), timeout: timeout,
                                                 logger: Logger(label: "test"), outcome: promise)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4000)).wait()
        }

        /// What the handler wrote, as text.
        func written() throws -> String {
            var bytes = ByteBuffer()
            while var part = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
            return String(buffer: bytes)
        }

        func receive(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
            channel.embeddedEventLoop.run()
        }

        /// The upgraded connection, once the handshake succeeded.
        func success() -> UpgradedConnection? {
            var success: UpgradedConnection?
            upgraded.assumeIsolated().whenSuccess { success = $0 }
            return success
        }

        /// The error the handshake failed with, or `nil` if it has not failed (yet).
        func failure() -> (any Error)? {
            var failure: (any Error)?
            upgraded.assumeIsolated().whenFailure { failure = $0 }
            return failure
        }

        var accept: String {
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: \(ServerHandshake.acceptValue(forKey: handshake.key))\r\n\r\n"
        }
    }

    @Test func sendsTheRequestOnceActive() throws {
        let client = try Client()
        let request = try client.written()
        #expect(request.hasPrefix("GET /chat HTTP/1.1\r\n"))
        #expect(request.contains("Sec-WebSocket-Key: \(client.handshake.key)\r\n"))
    }

    @Test func noAnswerWithinTheTimeoutFailsAndCloses() throws {
        let client = try Client(timeout: .seconds(5))
        _ = try client.written()
        client.channel.embeddedEventLoop.advanceTime(by: .milliseconds(4999))
        #expect(client.failure() == nil)
        #expect(client.channel.isActive)
        client.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let failure = try #require(client.failure() as? HandshakeError)
        #expect("\(failure)".contains("no upgrade response within"))
        #expect(!client.channel.isActive)
    }

    @Test func anUpgradeInTimeIsNotTouchedByTheTimeout() throws {
        let client = try Client(timeout: .seconds(5))
        _ = try client.written()
        try client.receive(client.accept)
        let upgraded = try #require(client.success())
        #expect(upgraded.subprotocol == nil)
        client.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(client.channel.isActive)
        #expect(try client.written() == "")
    }

    @Test func aRefusalFailsWithItsStatusAndLaterTheTimeoutDoesNothing() throws {
        let client = try Client(timeout: .seconds(5))
        _ = try client.written()
        try client.receive("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        let failure = try #require(client.failure() as? HandshakeError)
        #expect(failure.status == .forbidden)
        #expect(!client.channel.isActive)
        client.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
    }

    @Test func aServerThatClosesDuringTheHandshakeFailsIt() throws {
        let client = try Client()
        _ = try client.written()
        client.channel.pipeline.fireChannelInactive()
        let failure = try #require(client.failure() as? HandshakeError)
        #expect("\(failure)".contains("closed the connection during the handshake"))
    }
}
