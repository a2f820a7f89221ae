/// A store that other servers append to as well — several nodes on one database. The hub
/// learns from it of publications it did not store itself and hands them to its own subscribers
/// in offset order, reading them from the store.
///
/// Notices are wake-ups, not the record: one may be lost (a listener's connection dropped) or
/// arrive late, so the hub also asks ``lastOffsets(of:)`` every ``pollInterval`` for the channels
/// its subscribers follow. A lost notice delays a publication by at most that interval, and
/// never loses it.
public protocol SharedChannelStore: ChannelStore {
    /// The last offsets of channels as the store hears of appends (its own and other nodes'),
    /// for one consumer: the hub calls this once and reads it while it runs.
    func appendNotices() -> AsyncStream<[ChannelName: UInt64]>
    /// The last offset of each of `channels` now (0 for one never published to).
    func lastOffsets(of channels: [ChannelName]) async throws -> [ChannelName: UInt64]
    /// How often the hub polls ``lastOffsets(of:)``: the longest a lost notice delays delivery.
    var pollInterval: Duration { get }
}

/// Whether a store can be reached, for status pages and metrics.
public enum ChannelStoreHealth: Sendable, Hashable {
    /// Working.
    case available
    /// Publishes are refused with the retryable `store-unavailable` until it is reached again;
    /// `reason` says what failed.
    case unavailable(reason: String)
}

extension ChannelStore {
    /// A store in this process can always be reached.
    public var health: ChannelStoreHealth { .available }
}
