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

    /// Publications waiting for the replay, in arrival order.
    private var held: [ChannelPublication] = []
    /// The last offset sent once the replay has finished; `nil` while it runs.
    private var lastSent: UInt64?
    /// Bytes of the publications waiting for the replay: payloads plus ``heldOverhead`` each.
    public private(set) var heldBytes = 0
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

    /// Whether the replay has finished and publications go out as they come.
    public var isLive: Bool { lastSent != nil }

    /// Decides what happens to a live `publication`.
    public mutating func live(_ publication: ChannelPublication) -> LiveDecision {
        guard let last = lastSent else {
            held.append(publication)
            heldBytes += Self.heldOverhead + publication.message.data.readableBytes
            return .held
        }
        guard publication.offset > last else { return .skip }
        lastSent = publication.offset
        return .send
    }

    /// The replay sent everything up to `lastReplayed`: returns the held publications that come
    /// after it, in offset order, to send now; from here on publications go out as they come.
    public mutating func replayFinished(through lastReplayed: UInt64) -> [ChannelPublication] {
        guard lastSent == nil else { return [] }
        var last = lastReplayed
        var toSend: [ChannelPublication] = []
        for publication in held.sorted(by: { $0.offset < $1.offset }) where publication.offset > last {
            toSend.append(publication)
            last = publication.offset
        }
        lastSent = last
        held = []
        heldBytes = 0
        return toSend
    }
}
