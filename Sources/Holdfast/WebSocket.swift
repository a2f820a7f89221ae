import HoldfastCore
import HoldfastNIO
import NIOCore
import NIOHTTP1

/// One open WebSocket connection, on the server or the client side: the messages it receives,
/// and ways to send, ping and close.
///
/// Iterate ``messages`` to receive; the iteration ends when the connection closes, and
/// ``closeOutcome`` then tells how. Reading is paced by the iteration: a consumer that falls
/// behind stops the socket from being read. Sending suspends while the socket's write buffer is
/// full, so a fast sender cannot make memory grow.
public final class WebSocket: Sendable {
    /// The upgrade request: as received (server) or as sent (client).
    public let request: UpgradeRequest
    /// The subprotocol both sides agreed on, if any.
    public let subprotocol: String?
    /// The headers of the server's `101 Switching Protocols` response.
    public let responseHeaders: HTTPHeaders
    /// The messages received, in order. Iterate it once.
    public let messages: WebSocketMessages

    private let handler: NIOLoopBound<WebSocketChannelHandler>
    private let channel: any Channel

    init(_ upgraded: UpgradedConnection) {
        self.request = upgraded.request
        self.subprotocol = upgraded.subprotocol
        self.responseHeaders = upgraded.responseHeaders
        self.messages = WebSocketMessages(upgraded.inbound)
        self.handler = upgraded.handler
        self.channel = upgraded.channel
    }

    /// The address of the peer.
    public var remoteAddress: SocketAddress? { channel.remoteAddress }

    /// Sends a message. Suspends while the socket cannot take more.
    /// - Throws: ``WebSocketError/connectionClosing`` once a close frame was sent or received.
    public func send(_ message: WebSocketMessage) async throws {
        try await onEventLoop { $0.send(message) }.get()
    }

    /// Sends a text message.
    public func send(text: String) async throws {
        try await send(.text(text))
    }

    /// Sends a binary message.
    public func send(binary: ByteBuffer) async throws {
        try await send(.binary(binary))
    }

    /// Sends a ping with `payload` (at most 125 bytes); the peer answers with a pong.
    public func ping(_ payload: ByteBuffer = ByteBuffer()) async throws {
        try await onEventLoop { $0.sendPing(payload) }.get()
    }

    /// Closes the connection with `code` and `reason` and waits for the close handshake and the
    /// TCP close (at most the configured close timeout). Returns how the connection ended;
    /// if it had already begun to close, nothing more is sent.
    @discardableResult
    public func close(code: CloseCode = .normalClosure, reason: String = "") async -> CloseOutcome {
        let frame = CloseFrame(code: code, reason: reason)
        do {
            return try await onEventLoop { $0.close(frame) }.get()
        } catch {
            return CloseOutcome(sent: nil, received: nil)
        }
    }

    /// How the connection ended; waits until it has.
    public var closeOutcome: CloseOutcome {
        get async {
            do {
                return try await onEventLoop { $0.closeOutcome }.get()
            } catch {
                return CloseOutcome(sent: nil, received: nil)
            }
        }
    }

    /// Closes the TCP connection at once, without a close handshake (the peer sees 1006).
    public func abort() {
        let handler = self.handler
        handler.eventLoop.execute { handler.value.abort() }
    }

    private func onEventLoop<Result: Sendable>(
        _ body: @escaping @Sendable (WebSocketChannelHandler) -> EventLoopFuture<Result>
    ) -> EventLoopFuture<Result> {
        let handler = self.handler
        if handler.eventLoop.inEventLoop { return body(handler.value) }
        return handler.eventLoop.flatSubmit { body(handler.value) }
    }
}

/// The messages a ``WebSocket`` receives, as an `AsyncSequence` that ends when the connection
/// closes. It can be iterated once.
public struct WebSocketMessages: AsyncSequence, Sendable {
    public typealias Element = WebSocketMessage
    public typealias Failure = Never

    private let inbound: WebSocketChannelHandler.Inbound

    init(_ inbound: WebSocketChannelHandler.Inbound) {
        self.inbound = inbound
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: inbound.makeAsyncIterator())
    }

    /// Iterates the received messages.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: WebSocketChannelHandler.Inbound.AsyncIterator

        public mutating func next() async -> WebSocketMessage? {
            await base.next()
        }
    }
}
