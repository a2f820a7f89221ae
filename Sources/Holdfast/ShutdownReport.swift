/// How a graceful shutdown ended for the connections that were open when it began.
public struct ShutdownReport: Sendable, Hashable, CustomStringConvertible {
    /// Connections whose close handshake completed within the drain timeout.
    public var closedCleanly: Int
    /// Connections closed without a completed handshake (the drain timeout passed, or the peer
    /// dropped the connection).
    public var cut: Int

    /// Creates a report.
    public init(closedCleanly: Int, cut: Int) {
        self.closedCleanly = closedCleanly
        self.cut = cut
    }

    public var description: String { "\(closedCleanly) closed cleanly, \(cut) cut" }
}
