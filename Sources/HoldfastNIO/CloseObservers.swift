import HoldfastCore

/// How a connection reports its end: the observers registered with
/// ``WebSocketChannelHandler/whenClosed(runFirst:_:)``, run once, in order, when TCP closes.
///
/// Two observers are kept inline — a server's bookkeeping and its application's callback — so
/// that the usual connection allocates nothing for them; more are chained onto the second.
struct CloseObservers {
    /// One observer of a connection's end.
    typealias Observer = (CloseOutcome) -> Void

    private var first: Observer?
    private var second: Observer?

    /// No observers.
    init() {}

    /// Adds `observer` after those registered so far.
    mutating func append(_ observer: @escaping Observer) {
        if first == nil {
            first = observer
        } else if let earlier = second {
            second = { outcome in
                earlier(outcome)
                observer(outcome)
            }
        } else {
            second = observer
        }
    }

    /// Adds `observer` before those registered so far.
    mutating func prepend(_ observer: @escaping Observer) {
        guard let earlier = first else {
            first = observer
            return
        }
        if let later = second {
            second = { outcome in
                earlier(outcome)
                later(outcome)
            }
        } else {
            second = earlier
        }
        first = observer
    }

    /// Runs every observer with `outcome`, in order, and forgets them all.
    mutating func notify(_ outcome: CloseOutcome) {
        let observers = (first, second)
        removeAll()
        observers.0?(outcome)
        observers.1?(outcome)
    }

    /// Forgets every observer without running it.
    mutating func removeAll() {
        first = nil
        second = nil
    }
}
