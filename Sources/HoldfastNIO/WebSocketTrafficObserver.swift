/// Counts the data messages a connection receives and sends, and slow readers closed, for a
/// server's statistics and metrics. The connection's ``WebSocketChannelHandler`` calls it on the connection's event
/// loop, once per message or fragment, so an implementation must be cheap: an uncontended
/// atomic add, not a lock. A class, so that each connection holds only a reference to it.
public protocol WebSocketTrafficObserver: AnyObject, Sendable {
    /// A data message, or one fragment of it, of `bytes` payload bytes was received and handed
    /// to the application; `endsMessage` is `true` for a whole message and for a final fragment.
    func received(bytes: Int, endsMessage: Bool)
    /// A data message, or one fragment of it, of `bytes` payload bytes was written to the
    /// connection; `endsMessage` is `true` for a whole message and for a final fragment.
    func sent(bytes: Int, endsMessage: Bool)
    /// The connection was closed for reading too slowly: its outbound backlog passed the budget
    /// (`WebSocketConfiguration/maxBacklog`). Rare; called once per such connection.
    func backlogExceeded()
}
