import HoldfastCore
import HoldfastNIO
import NIOCore

/// A connection served on its event loop, without an upgrade context: the form most handlers
/// use (see ``EventLoopConnection``).
public typealias EventLoopWebSocket = EventLoopConnection<Void>

/// A connection served on its event loop: the fastest way to handle WebSocket traffic, with no
/// task per connection and no thread hop per message.
///
/// Use it through a ``WebSocketEventLoopHandler``: every callback runs on the connection's event
/// loop, and so must every call on this value. Sends are written at once and flushed together
/// at the end of the current read or event-loop tick. The trade-off against ``WebSocket``: the
/// handler must never block or await; work that does belongs in the `async` API.
///
/// `Context` is what the server's upgrade decision handed over when it accepted the connection
/// (`UpgradeDecision/accept(_:subprotocol:headers:configuration:)`), e.g. the authenticated
/// user or the room; `Void` (``EventLoopWebSocket``) when the server decides without one.
public struct EventLoopConnection<Context: Sendable>: Identifiable {
    private let handler: WebSocketChannelHandler
    /// The upgrade request as received.
    public let request: UpgradeRequest
    /// The subprotocol both sides agreed on, if any.
    public let subprotocol: String?
    /// What the server's upgrade decision handed over for this connection.
    public let context: Context
    /// The event loop the connection, and every call on it, runs on.
    public var eventLoop: any EventLoop { handler.eventLoop }

    /// Identifies the connection: every value for the same connection has the same `id`, so a
    /// handler can keep a registry of its connections (a chat room's members).
    public var id: ObjectIdentifier { ObjectIdentifier(handler) }

    init(_ upgraded: UpgradedConnection, context: Context) {
        self.handler = upgraded.handler.value
        self.request = upgraded.request
        self.subprotocol = upgraded.subprotocol
        self.context = context
    }

    /// Sends a message (fragmented to the configured fragment size). While the socket is full,
    /// the connection stops reading, so an echo cannot outrun a peer that does not read.
    /// - Throws: a `WebSocketError` once the close handshake has begun.
    public func send(_ message: WebSocketMessage) throws {
        eventLoop.preconditionInEventLoop()
        try handler.write(message)
    }

    /// Whether the socket takes more now. A producer of many messages (a replay of stored
    /// history) sends while it does, then waits on the future of ``sendPaced(_:)``.
    public var isWritable: Bool {
        eventLoop.preconditionInEventLoop()
        return handler.isWritable
    }

    /// Sends a message like ``send(_:)``; the future succeeds once the socket is writable again
    /// (at once when it is), and fails with the `WebSocketError` that refused the message. A
    /// producer that sends only while ``isWritable`` and otherwise waits for this future never
    /// holds more than the socket's buffer in memory, however slowly the peer reads.
    public func sendPaced(_ message: WebSocketMessage) -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        return handler.send(message)
    }

    /// Starts the close handshake with `code` and `reason`.
    public func close(code: CloseCode = .normalClosure, reason: String = "") {
        eventLoop.preconditionInEventLoop()
        _ = handler.close(CloseFrame(code: code, reason: reason))
    }
}

/// Handles connections on their event loops (see ``EventLoopConnection``).
///
/// ```swift
/// struct Echo: WebSocketEventLoopHandler {
///     func received(_ message: WebSocketMessage, on connection: EventLoopWebSocket) {
///         try? connection.send(message)
///     }
/// }
/// let server = WebSocketServer(configuration: .init(port: 8080), eventLoopHandler: Echo())
/// ```
///
/// A handler whose server decides each upgrade with a context (the user, the room) names it as
/// its `Context`, and gets it with every connection (``EventLoopConnection/context``):
///
/// ```swift
/// struct Rooms: WebSocketEventLoopHandler {
///     func received(_ message: WebSocketMessage, on connection: EventLoopConnection<Room>) {
///         connection.context.broadcast(message)
///     }
/// }
/// let server = WebSocketServer(configuration: .init(port: 8080), shouldUpgrade: { request in
///     guard let room = Room.named(request.path) else { return .reject(status: .notFound, reason: "no such room") }
///     return .accept(room)
/// }, eventLoopHandler: Rooms())
/// ```
public protocol WebSocketEventLoopHandler: Sendable {
    /// What the server's upgrade decision hands over with each connection. Default `Void`: the
    /// server decides without one.
    associatedtype Context: Sendable = Void
    /// A connection was upgraded. Default: nothing.
    func connectionOpened(_ connection: EventLoopConnection<Context>)
    /// A message arrived.
    func received(_ message: WebSocketMessage, on connection: EventLoopConnection<Context>)
    /// A fragment arrived; called only when the server's receive mode is
    /// `WebSocketConfiguration/ReceiveMode/fragments(maxMessageSize:)`. Default: nothing.
    func received(_ fragment: WebSocketFragment, on connection: EventLoopConnection<Context>)
    /// The connection ended as `outcome` tells. Default: nothing.
    func connectionClosed(_ connection: EventLoopConnection<Context>, outcome: CloseOutcome)
}

extension WebSocketEventLoopHandler {
    /// Does nothing.
    public func connectionOpened(_ connection: EventLoopConnection<Context>) {}
    /// Does nothing.
    public func received(_ fragment: WebSocketFragment, on connection: EventLoopConnection<Context>) {}
    /// Does nothing.
    public func connectionClosed(_ connection: EventLoopConnection<Context>, outcome: CloseOutcome) {}
}
