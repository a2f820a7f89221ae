import NIOCore

/// The timers of a connection that asked for an idle timeout or keepalive pings, kept out of
/// line: a connection without either carries one empty reference for them, not their state.
///
/// A value with copy-on-write storage, so that a copy of the machine holding it is independent.
struct ConnectionTimers {
    private final class Storage {
        var idle: IdleTimeoutStateMachine?
        var keepalive: KeepaliveStateMachine?

        init(idle: IdleTimeoutStateMachine?, keepalive: KeepaliveStateMachine?) {
            self.idle = idle
            self.keepalive = keepalive
        }
    }

    private var storage: Storage?

    /// Timers for `configuration`: keepalive pings when it asks for them.
    init(configuration: WebSocketConfiguration) {
        if let interval = configuration.pingInterval {
            storage = Storage(idle: nil,
                              keepalive: KeepaliveStateMachine(interval: interval, pongTimeout: configuration.pongTimeout))
        }
    }

    /// The idle timeout, if one was set.
    var idle: IdleTimeoutStateMachine? {
        get { storage?.idle }
        set { uniqueStorage().idle = newValue }
    }

    /// The keepalive pings, if the configuration asks for them.
    var keepalive: KeepaliveStateMachine? {
        get { storage?.keepalive }
        set { uniqueStorage().keepalive = newValue }
    }

    /// Whether receipts are to be timed: only with an idle timeout.
    var timesReceipts: Bool { storage?.idle != nil }

    /// Records a receipt at `now` for the idle timeout.
    mutating func bytesReceived(at now: NIODeadline) {
        uniqueStorage().idle?.bytesReceived(at: now)
    }

    private mutating func uniqueStorage() -> Storage {
        if storage == nil {
            storage = Storage(idle: nil, keepalive: nil)
        } else if !isKnownUniquelyReferenced(&storage) {
            storage = storage.map { Storage(idle: $0.idle, keepalive: $0.keepalive) }
        }
        guard let storage else { preconditionFailure("the timers' storage exists once made") }
        return storage
    }
}
