import NIOCore

/// The tasks scheduled for a connection's idle timeout and keepalive pings: kept apart so that
/// connections without them carry a single empty reference.
final class ScheduledTimers {
    /// The next idle check.
    var idleCheck: Scheduled<Void>?
    /// The next keepalive ping, while none waits for its pong.
    var keepalivePing: Scheduled<Void>?
    /// The deadline of the keepalive ping waiting for its pong.
    var pongDeadline: Scheduled<Void>?

    /// Cancels every task: the connection ended.
    func cancelAll() {
        idleCheck?.cancel()
        keepalivePing?.cancel()
        pongDeadline?.cancel()
    }
}
