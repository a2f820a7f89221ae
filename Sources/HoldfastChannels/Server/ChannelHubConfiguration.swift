/// The settings of a ``ChannelHub``.
public struct ChannelHubConfiguration: Sendable, Hashable {
    /// Channels one connection may subscribe to at once; one more is refused with
    /// `too-many-subscriptions`. Default 100.
    public var maxSubscriptionsPerConnection: Int
    /// Publishes stored in one transaction at most: whatever waits when the store is free goes
    /// in together, up to this many. Default 256.
    public var maxBatch: Int
    /// Publishes that may wait for the store at once; one more is refused with the retryable
    /// `store-unavailable`, which a client keeps in its outbox. Default 10,000.
    public var maxWaitingPublishes: Int
    /// Payload bytes of publishes that may wait for the store at once; more is refused like
    /// ``maxWaitingPublishes``. Default 64 MiB.
    public var maxWaitingBytes: Int
    /// Publishes of one connection that may wait for their acknowledgement; one more is refused
    /// with the retryable `store-unavailable`, so that one connection cannot take the whole
    /// queue. Default 1,000.
    public var maxPublishesInFlightPerConnection: Int
    /// Publications read from the store per step of a replay; the next step waits until the
    /// subscriber's socket has taken the last. Default 500.
    public var replayPageSize: Int
    /// Bytes of live publications that may wait, over all of one connection's subscriptions, for
    /// their replays to finish; beyond them the subscriber is closed as a slow consumer (1013)
    /// and resumes from its offsets. Default 4 MiB.
    public var maxHeldDuringReplay: Int
    /// How often old history is trimmed. Default one second.
    public var trimInterval: Duration

    /// A configuration; every parameter defaults as documented on its property.
    public init(maxSubscriptionsPerConnection: Int = 100, maxBatch: Int = 256, maxWaitingPublishes: Int = 10_000,
                maxWaitingBytes: Int = 64 << 20, maxPublishesInFlightPerConnection: Int = 1000,
                replayPageSize: Int = 500, maxHeldDuringReplay: Int = 4 << 20, trimInterval: Duration = .seconds(1)) {
        self.maxSubscriptionsPerConnection = maxSubscriptionsPerConnection
        self.maxBatch = maxBatch
        self.maxWaitingPublishes = maxWaitingPublishes
        self.maxWaitingBytes = maxWaitingBytes
        self.maxPublishesInFlightPerConnection = maxPublishesInFlightPerConnection
        self.replayPageSize = replayPageSize
        self.maxHeldDuringReplay = maxHeldDuringReplay
        self.trimInterval = trimInterval
    }
}

/// What a ``ChannelHub`` has done since it started.
public struct ChannelHubStatistics: Sendable, Hashable, Codable {
    /// Channels with at least one subscriber now.
    public var channels = 0
    /// Subscriptions now, over every connection.
    public var subscriptions = 0
    /// Publishes stored.
    public var published = 0
    /// Publishes that repeated a remembered id and were acknowledged without being stored again.
    public var duplicates = 0
    /// Publishes refused (store unavailable, shutting down, too many channels).
    public var publishesRefused = 0
    /// Subscribes that asked to resume from a position.
    public var recoveries = 0
    /// Of those, the ones that could not be filled (`recovered: false`).
    public var recoveriesFailed = 0
    /// Publications sent from history to resuming subscribers.
    public var replayed = 0
    /// Subscribers closed because live publications piled up behind their replay.
    public var slowSubscribersClosed = 0
    /// Publications other nodes stored that this hub read from a shared store and handed to its
    /// subscribers.
    public var storedElsewhere = 0
    /// Subscribers closed (1013) because other nodes' publications were trimmed from the shared
    /// history before this hub could read them; they resume and learn of the gap.
    public var subscribersBehindHistory = 0
    /// Why the store cannot be reached now; `nil` while it can.
    public var storeUnavailable: String?

    /// Nothing yet.
    public init() {}
}
