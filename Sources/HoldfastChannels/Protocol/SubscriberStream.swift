/// One subscription's delivery on the server, decided without I/O: while the history is replayed,
/// live publications wait (up to a budget); once the replay has reached the stream's end as it
/// stood, they go out in offset order, none twice.
///
/// The subscription registers for live publications before the history is read, so a
/// publication stored meanwhile arrives both ways; the offset decides which copy goes out. What
/// waits is bounded by the server per connection (see ``heldBytes``).
public struct SubscriberStream: Sendable {
    /// What to do with a live publication.
    public enum LiveDecision: Sendable, Equatable {
        /// Send it now.
        case send
        /// It was sent already (or replayed): drop it.
        case skip
        /// It waits for the replay to finish (its payload's bytes count against the
        /// connection's budget until then).
        case held
    }

    private enum Phase: Sendable {
        case replaying(held: [ChannelPublication], heldBytes: Int)
        case live(lastSent: UInt64)
    }

    private var phase: Phase = .replaying(held: [], heldBytes: 0)
    /// Tells this subscription from an earlier or later one of the same connection to the same
    /// channel: the work of one that ended (its replay) must not reach the next.
    public let id: UInt64

    /// What a waiting publication costs beyond its payload (its header, the bookkeeping), so that
    /// empty payloads count too.
    public static let heldOverhead = 64

    /// A subscription, numbered `id` by its connection, whose replay has not finished.
    public init(id: UInt64) {
        self.id = id
    }

    /// Bytes of the publications waiting for the replay: payloads plus ``heldOverhead`` each.
    public var heldBytes: Int {
        if case .replaying(_, let bytes) = phase { return bytes }
        return 0
    }

    /// Whether the replay has finished and publications go out as they come.
    public var isLive: Bool {
        if case .live = phase { return true }
        return false
    }

    /// Decides what happens to a live `publication`.
    public mutating func live(_ publication: ChannelPublication) -> LiveDecision {
        switch phase {
        case .live(let lastSent):
            guard publication.offset > lastSent else { return .skip }
            phase = .live(lastSent: publication.offset)
            return .send
        case .replaying(var held, let heldBytes):
            // Released first, so that the array is appended to in place rather than copied.
            phase = .live(lastSent: 0)
            held.append(publication)
            phase = .replaying(held: held, heldBytes: heldBytes + Self.heldOverhead + publication.message.data.readableBytes)
            return .held
        }
    }

    /// The replay sent everything up to `lastReplayed`: returns the held publications that come
    /// after it, in offset order, to send now; from here on publications go out as they come.
    public mutating func replayFinished(through lastReplayed: UInt64) -> [ChannelPublication] {
        guard case .replaying(let held, _) = phase else { return [] }
        var lastSent = lastReplayed
        var toSend: [ChannelPublication] = []
        for publication in held.sorted(by: { $0.offset < $1.offset }) where publication.offset > lastSent {
            toSend.append(publication)
            lastSent = publication.offset
        }
        phase = .live(lastSent: lastSent)
        return toSend
    }
}
