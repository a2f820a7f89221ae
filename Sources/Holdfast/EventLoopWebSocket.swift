import HoldfastCore
import HoldfastNIO
import NIOCore

/// A connection served on its event loop: the fastest way to handle WebSocket traffic, with no
/// task per connection and no thread hop per message.
///
/// Use it through a ``WebSocketEventLoopHandler``: every callback runs on the connection's event
/// loop, and so must every call on this value. Sends are written at once and flushed together
/// at the end of the current read or event-loop tick. The trade-off against ``WebSocket``: the
/// handler must never block or await; work that does belongs in the `async` API.
public struct EventLoopWebSocket: Identifiable {
    private let handler: WebSocketChannelHandler
    /// The upgrade request as received.
    public let request: UpgradeRequest
    /// The subprotocol both sides agreed on, if any.
    public let subprotocol: String?
    /// The event loop the connection, and every call on it, runs on.
    public var eventLoop: any EventLoop { handler.eventLoop }

    /// Identifies the connection: every value for the same connection has the same `id`, so a
    /// handler can keep a registry of its connections (a chat room's members).
    public var id: ObjectIdentifier { ObjectIdentifier(handler) }

    init(_ upgraded: UpgradedConnection) {
        self.handler = upgraded.handler.value
        self.request = upgraded.request
        self.subprotocol = upgraded.subprotocol
    }

    /// Sends a message (fragmented to the configured fragment size). While the socket is full,
    /// the connection stops reading, so an echo cannot outrun a peer that does not read.
    /// - Throws: a ``WebSocketError`` once the close handshake has begun.
    public func send(_ message: WebSocketMessage) throws {
        eventLoop.preconditionInEventLoop()
        try handler.write(message)
    }

    /// Starts the close handshake with `code` and `reason`.
    public func close(code: CloseCode = .normalClosure, reason: String = "") {
        eventLoop.preconditionInEventLoop()
        _ = handler.close(CloseFrame(code: code, reason: reason))
    }
}

/// Handles connections on their event loops (see ``EventLoopWebSocket``).
///
/// ```swift
/// struct Echo: WebSocketEventLoopHandler {
///     func received(_ message: WebSocketMessage, on connection: EventLoopWebSocket) {
///         try? connection.send(message)
///     }
/// }
/// let server = WebSocketServer(configuration: .init(port: 8080), eventLoopHandler: Echo())
/// ```
public protocol WebSocketEventLoopHandler: Sendable {
    /// A connection was upgraded. Default: nothing.
    func connectionOpened(_ connection: EventLoopWebSocket)
    /// A message arrived.
    func received(_ message: WebSocketMessage, on connection: EventLoopWebSocket)
    /// A fragment arrived; called only when the server's receive mode is
    /// ``WebSocketConfiguration/ReceiveMode/fragments(maxMessageSize:)``. Default: nothing.
    func received(_ fragment: WebSocketFragment, on connection: EventLoopWebSocket)
    /// The connection ended as `outcome` tells. Default: nothing.
    func connectionClosed(_ connection: EventLoopWebSocket, outcome: CloseOutcome)
}

extension WebSocketEventLoopHandler {
    /// Does nothing.
    public func connectionOpened(_ connection: EventLoopWebSocket) {}
    /// Does nothing.
    public func received(_ fragment: WebSocketFragment, on connection: EventLoopWebSocket) {}
    /// Does nothing.
    public func connectionClosed(_ connection: EventLoopWebSocket, outcome: CloseOutcome) {}
}
