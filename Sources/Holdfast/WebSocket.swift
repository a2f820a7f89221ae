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
    /// The messages received, in order. Iterate it, or ``fragments``, once.
    ///
    /// With `WebSocketConfiguration/ReceiveMode/fragments(maxMessageSize:)` the fragments of each
    /// message are joined here in memory; use ``fragments`` to keep memory flat.
    public let messages: WebSocketMessages
    /// The received data as fragments, in order: each whole message as one final fragment, or
    /// in `WebSocketConfiguration/ReceiveMode/fragments(maxMessageSize:)` each frame's payload
    /// as it arrives. Iterate it, or ``messages``, once.
    public let fragments: WebSocketFragments
    /// The limits the peer announced in the handshake (a Holdfast server does); messages are
    /// fragmented to fit its frame limit, and one over its message limit is refused unsent.
    public let peerLimits: AnnouncedLimits
    /// permessage-deflate as agreed in the handshake; `nil` when messages go uncompressed.
    public let compression: PerMessageDeflateParameters?

    private let handler: NIOLoopBound<WebSocketChannelHandler>
    private let outbound: OutboundQueue
    private let channel: any Channel

    init(_ upgraded: UpgradedConnection) {
        self.request = upgraded.request
        self.subprotocol = upgraded.subprotocol
        self.responseHeaders = upgraded.responseHeaders
        guard let inbound = upgraded.inbound, let outbound = upgraded.outbound else {
            preconditionFailure("a WebSocket was made for a connection served on its event loop")
        }
        self.messages = WebSocketMessages(inbound)
        self.fragments = WebSocketFragments(inbound)
        self.peerLimits = upgraded.peerLimits
        self.compression = upgraded.compression
        self.handler = upgraded.handler
        self.outbound = outbound
        self.channel = upgraded.channel
    }

    /// The address of the peer.
    public var remoteAddress: SocketAddress? { channel.remoteAddress }

    /// Sends a message, as fragments when it is longer than the fragment size or the peer's
    /// announced frame limit. Returns once the message is queued for the connection's event
    /// loop, which writes what several sends queued with one flush; suspends while the socket
    /// cannot take more. A message queued as the close handshake begins is not sent.
    /// - Throws: `WebSocketError/connectionClosing` once a close frame was sent or received;
    ///   a `WebSocketError/messageTooBig(size:limit:reason:)` when the message exceeds the
    ///   peer's announced limit or the peer closed with 1009 — chunk the payload and retry.
    public func send(_ message: WebSocketMessage) async throws {
        let size = message.data.readableBytes
        if let refusal = peerLimits.refusal(ofMessageSize: size) { throw refusal }
        try await outbound.enqueue(.message(message), size: size)
    }

    /// Sends `message` on the event loop and reports whether it was written: unlike ``send(_:)``,
    /// it fails when the close handshake began before the message could be encoded.
    func sendConfirmed(_ message: WebSocketMessage) async throws {
        try await onEventLoop { $0.send(message) }.get()
    }

    /// Sends one message whose data comes from `chunks`, each chunk as a fragment as soon as it
    /// is produced, so the whole message is never in memory. Suspends while the socket cannot
    /// take more; other messages sent meanwhile wait for its end.
    /// - Throws: what sending throws; if `chunks` throws, the message cannot be completed, so
    ///   the connection is closed with 1011 and `WebSocketError/incompleteStream` is thrown.
    public func send<Chunks: AsyncSequence>(_ kind: WebSocketMessage.Kind, chunks: Chunks) async throws
    where Chunks.Element == ByteBuffer {
        var iterator = chunks.makeAsyncIterator()
        guard var chunk = try await iterator.next() else {
            try await sendFragment(ByteBuffer(), of: kind, isFinal: true)
            return
        }
        while true {
            let next: ByteBuffer?
            do {
                next = try await iterator.next()
            } catch {
                await close(code: .internalError, reason: "message source failed")
                throw WebSocketError.incompleteStream
            }
            try await sendFragment(chunk, of: kind, isFinal: next == nil)
            guard let next else { return }
            chunk = next
        }
    }

    /// Sends the next fragment of a message: the first call starts a message of `kind`, the call
    /// with `isFinal` ends it, and messages sent by other tasks meanwhile wait for that end
    /// (fragments of two messages never interleave). Suspends while the socket cannot take more.
    public func sendFragment(_ data: ByteBuffer, of kind: WebSocketMessage.Kind, isFinal: Bool) async throws {
        try await outbound.enqueue(.fragment(data, kind: kind, isFinal: isFinal), size: data.readableBytes)
    }

    /// Sends a text message.
    public func send(text: String) async throws {
        try await send(.text(text))
    }

    /// Sends a binary message.
    public func send(binary: ByteBuffer) async throws {
        try await send(.binary(binary))
    }

    /// Sends a ping with `payload` (at most 125 bytes) and returns when the peer's pong for it
    /// arrives: time it to measure the round trip, or bound it with a timeout as a keepalive.
    /// - Throws: a `WebSocketError` if the payload is too long or the connection closes first.
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

/// The messages received by a ``WebSocket``, as an `AsyncSequence` that ends when the connection
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
            var joined: WebSocketMessage?
            while let element = await base.next() {
                switch element {
                case .message(let message):
                    return message
                case .fragment(var fragment):
                    if fragment.isFirst {
                        joined = WebSocketMessage(kind: fragment.kind, data: fragment.data)
                    } else {
                        joined?.data.writeBuffer(&fragment.data)
                    }
                    if fragment.isFinal, let joined { return joined }
                }
            }
            return nil
        }
    }
}

/// The data received by a ``WebSocket`` as fragments, as an `AsyncSequence` that ends when the
/// connection closes. It can be iterated once.
public struct WebSocketFragments: AsyncSequence, Sendable {
    public typealias Element = WebSocketFragment
    public typealias Failure = Never

    private let inbound: WebSocketChannelHandler.Inbound

    init(_ inbound: WebSocketChannelHandler.Inbound) {
        self.inbound = inbound
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: inbound.makeAsyncIterator())
    }

    /// Iterates the received fragments.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: WebSocketChannelHandler.Inbound.AsyncIterator

        public mutating func next() async -> WebSocketFragment? {
            switch await base.next() {
            case .message(let message)?:
                return WebSocketFragment(kind: message.kind, data: message.data, isFirst: true, isFinal: true)
            case .fragment(let fragment)?:
                return fragment
            case nil:
                return nil
            }
        }
    }
}
