import HoldfastCore

/// What a subscription delivers to the application, in stream order.
public enum SubscriptionEvent: Sendable, Hashable {
    /// The next publication of the channel; each is delivered once, in offset order.
    case publication(ChannelPublication)
    /// Publications between the last one delivered and the next one are lost for good (the
    /// server's history changed epoch, was trimmed, or the replay limit was reached): delivery
    /// resumes at ``ChannelGap/resumesAt``.
    case gap(ChannelGap)
}

/// Publications the application will never see: where delivery stood and where it resumes.
public struct ChannelGap: Sendable, Hashable, CustomStringConvertible {
    /// The channel with the gap.
    public var channel: ChannelName
    /// The last position delivered, or the starting position the subscription was given.
    public var lastDelivered: StreamPosition
    /// The first position delivered after the gap: the stream's epoch now and the offset
    /// the server resumes from.
    public var resumesAt: StreamPosition

    /// A gap on `channel` between `lastDelivered` and `resumesAt`.
    public init(channel: ChannelName, lastDelivered: StreamPosition, resumesAt: StreamPosition) {
        self.channel = channel
        self.lastDelivered = lastDelivered
        self.resumesAt = resumesAt
    }

    public var description: String {
        lastDelivered.epoch == resumesAt.epoch
            ? "gap on \(channel): offsets after \(lastDelivered.offset) up to \(resumesAt.offset) are gone in epoch \(resumesAt.epoch)"
            : "gap on \(channel): epoch \(lastDelivered.epoch) is gone (had \(lastDelivered)), resuming at \(resumesAt)"
    }
}

/// Why a publish was not stored.
public enum ChannelPublishFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server refused it with a code that retrying does not change.
    case refused(ChannelsError)
    /// Encoded, it is larger than the message limit the server announced; it was never sent.
    case tooBig(WebSocketError)
    /// The outbox of unacknowledged publishes holds its limit of publishes or bytes.
    case outboxFull(maxPublishes: Int, maxBytes: Int)

    public var description: String {
        switch self {
        case .refused(let error): return "publish refused: \(error)"
        case .tooBig(let error): return "publish not sent: \(error)"
        case .outboxFull(let publishes, let bytes):
            return "the outbox of unacknowledged publishes is full (at most \(publishes) publishes, \(bytes) bytes)"
        }
    }
}
