import HoldfastCore

/// What a ``WebSocketServer`` has counted since it was created: its connections, the data
/// messages and payload bytes in each direction, and how connections closed — the figures a
/// status page shows. The same events are recorded with swift-metrics (see
/// ``WebSocketServer/statistics``).
///
/// Messages are data messages (text and binary) as the application receives and sends them; in
/// fragment mode a fragment adds its bytes and the final one completes a message. Bytes are
/// payload bytes: frame headers, control frames and the handshake are not counted.
public struct WebSocketServerStatistics: Sendable, Hashable {
    /// Connections upgraded and not yet closed.
    public var openConnections: Int
    /// Connections upgraded since the server was created.
    public var totalConnections: Int
    /// Data messages received from clients.
    public var messagesReceived: Int
    /// Data messages sent to clients.
    public var messagesSent: Int
    /// Payload bytes received from clients.
    public var bytesReceived: Int
    /// Payload bytes sent to clients.
    public var bytesSent: Int
    /// How many connections ended with each close code (`CloseOutcome/code`: 1006 for a
    /// connection that ended without a close handshake).
    public var closes: [CloseCode: Int]
    /// Connections closed for reading too slowly: their outbound backlog passed
    /// `WebSocketConfiguration/maxBacklog` (each also counts as a 1013 in ``closes``).
    public var slowConsumersClosed: Int
    /// Connections whose client left of its own accord (`CloseOutcome/isDeparture`): a browser
    /// page's 1001 on unload, or `holdfast.js`'s 4001 on `pagehide`. Each also counts in
    /// ``closes``; a status page shows them apart from failures such as 1006.
    public var departures: Int

    /// Creates statistics; every count defaults to zero.
    public init(openConnections: Int = 0, totalConnections: Int = 0, messagesReceived: Int = 0, messagesSent: Int = 0,
                bytesReceived: Int = 0, bytesSent: Int = 0, closes: [CloseCode: Int] = [:],
                slowConsumersClosed: Int = 0, departures: Int = 0) {
        self.openConnections = openConnections
        self.totalConnections = totalConnections
        self.messagesReceived = messagesReceived
        self.messagesSent = messagesSent
        self.bytesReceived = bytesReceived
        self.bytesSent = bytesSent
        self.closes = closes
        self.slowConsumersClosed = slowConsumersClosed
        self.departures = departures
    }
}
