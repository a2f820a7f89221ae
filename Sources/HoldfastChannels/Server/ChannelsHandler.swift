import Holdfast
import HoldfastCore

/// Serves every connection of a server as a channels connection of `hub`: the event-loop handler
/// for a server that does nothing else (give its configuration `subprotocols: [channelsSubprotocol]`).
/// A server that also serves other kinds of connections calls the hub's methods from its own handler.
public struct ChannelsHandler<Context: Sendable>: WebSocketEventLoopHandler {
    /// The hub the connections use.
    public let hub: ChannelHub

    /// A handler for `hub`.
    public init(hub: ChannelHub) {
        self.hub = hub
    }

    /// Opens the connection's session, or closes a connection that did not agree on the
    /// channels subprotocol (1002) — it could not read the answers.
    public func connectionOpened(_ connection: EventLoopConnection<Context>) {
        guard connection.subprotocol == channelsSubprotocol else {
            connection.close(code: .protocolError, reason: "offer the subprotocol \(channelsSubprotocol)")
            return
        }
        hub.connectionOpened(connection)
    }

    /// Hands the message to the hub.
    public func received(_ message: WebSocketMessage, on connection: EventLoopConnection<Context>) {
        hub.received(message, on: connection)
    }

    /// Ends the connection's subscriptions.
    public func connectionClosed(_ connection: EventLoopConnection<Context>, outcome: CloseOutcome) {
        hub.connectionClosed(connection)
    }
}
