import HoldfastCore
import HoldfastNIO

/// Hands one connection's messages and end to a ``WebSocketEventLoopHandler``: one small object
/// per connection, shared by the channel handler's two callbacks.
final class EventLoopDelivery<Handler: WebSocketEventLoopHandler> {
    let handler: Handler
    let connection: EventLoopConnection<Handler.Context>

    init(handler: Handler, connection: EventLoopConnection<Handler.Context>) {
        self.handler = handler
        self.connection = connection
    }

    /// Installs the delivery on `upgraded`, before its first frame is read.
    static func install(_ handler: Handler, on upgraded: UpgradedConnection, context: Handler.Context) {
        let delivery = EventLoopDelivery(handler: handler, connection: EventLoopConnection(upgraded, context: context))
        // Each closure captures only the one object, so neither needs a context of its own.
        upgraded.handler.value.deliverOnEventLoop(received: { delivery.received($0) },
                                                  closed: { delivery.closed($0) })
    }

    func received(_ element: WebSocketChannelHandler.InboundElement) {
        switch element {
        case .message(let message): handler.received(message, on: connection)
        case .fragment(let fragment): handler.received(fragment, on: connection)
        }
    }

    func closed(_ outcome: CloseOutcome) {
        handler.connectionClosed(connection, outcome: outcome)
    }
}
