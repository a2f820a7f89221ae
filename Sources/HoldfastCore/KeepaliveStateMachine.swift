import NIOCore

/// Keepalive pings of one connection (``WebSocketConfiguration/pingInterval``): a ping one
/// interval after the last pong, and a peer that does not answer within ``pongTimeout`` taken
/// for dead.
///
/// RFC 6455 §5.5.2: a ping "may serve either as a keepalive or as a means to verify that the
/// remote endpoint is still responsive".
struct KeepaliveStateMachine: Hashable {
    private enum State: Hashable {
        /// The next ping is scheduled.
        case waitingForInterval
        /// A ping was sent; its pong is due within the timeout.
        case awaitingPong
        /// The connection is closing or closed: no more pings.
        case stopped
    }

    /// How long after the last pong the next ping goes.
    let interval: TimeAmount
    /// How long a ping waits for its pong before the peer is taken for dead.
    let pongTimeout: TimeAmount
    private var state: State = .waitingForInterval

    /// Creates the keepalive; the first ping goes one interval after the connection starts.
    init(interval: TimeAmount, pongTimeout: TimeAmount) {
        self.interval = interval
        self.pongTimeout = pongTimeout
    }

    /// The scheduled ping is due. Returns whether to send it (and start the pong's deadline).
    mutating func pingDue(canSend: Bool) -> Bool {
        guard case .waitingForInterval = state, canSend else { return false }
        state = .awaitingPong
        return true
    }

    /// The pong to the keepalive ping arrived. Returns whether to schedule the next ping (and
    /// cancel the deadline).
    mutating func pongReceived() -> Bool {
        guard case .awaitingPong = state else { return false }
        state = .waitingForInterval
        return true
    }

    /// The pong's deadline passed. Returns whether the peer is to be taken for dead.
    mutating func pongDeadlinePassed() -> Bool {
        guard case .awaitingPong = state else { return false }
        state = .stopped
        return true
    }

    /// The connection ended: no more pings, no deadline.
    mutating func stop() {
        state = .stopped
    }
}
