import NIOCore

/// The tasks scheduled for a connection's idle timeout and keepalive pings: kept apart so that
/// connections without them carry a single empty reference. A task replaced by the next one of
/// its kind is cancelled (a no-op once it has run).
final class ScheduledTimers {
    /// The next idle check.
    var idleCheck: Scheduled<Void>? { didSet { oldValue?.cancel() } }
    /// The next keepalive ping, while none waits for its pong.
    var keepalivePing: Scheduled<Void>? { didSet { oldValue?.cancel() } }
    /// The deadline of the keepalive ping waiting for its pong.
    var pongDeadline: Scheduled<Void>? { didSet { oldValue?.cancel() } }
    /// Since when the socket has not taken what is written (the peer does not read), for the
    /// idle timeout's stalled-reader check.
    var writesStalledSince: NIODeadline?

    /// Cancels every task: the connection ended.
    func cancelAll() {
        idleCheck = nil
        keepalivePing = nil
        pongDeadline = nil
    }
}
