import Foundation
import HoldfastCore

/// A publish handed to a ``ChannelStore``.
public struct ChannelPublishRequest: Sendable, Hashable {
    /// The channel to append to.
    public var channel: ChannelName
    /// The client's id for the publish, if it gave one: a repeat within the store's window is
    /// stored once.
    public var id: String?
    /// What is published.
    public var message: WebSocketMessage

    /// A publish of `message` to `channel`, with the client's `id` if any.
    public init(channel: ChannelName, id: String? = nil, message: WebSocketMessage) {
        self.channel = channel
        self.id = id
        self.message = message
    }
}

/// Where a publish stands once stored.
public struct ChannelPublishReceipt: Sendable, Hashable {
    /// The publication's place in its channel's stream.
    public var position: StreamPosition
    /// Whether the publish repeated an id stored before; nothing new was stored.
    public var duplicate: Bool

    /// A receipt for a publication at `position`.
    public init(position: StreamPosition, duplicate: Bool) {
        self.position = position
        self.duplicate = duplicate
    }
}

/// Where a channel's stream stands.
public struct ChannelStreamState: Sendable, Hashable {
    /// The epoch and the last offset (0 before the first publication).
    public var position: StreamPosition
    /// The first offset the history still holds; `position.offset + 1` when it holds none.
    public var oldestRetained: UInt64

    /// A stream at `position` whose history starts at `oldestRetained`.
    public init(position: StreamPosition, oldestRetained: UInt64) {
        self.position = position
        self.oldestRetained = oldestRetained
    }
}

/// How much history a store keeps, and for how long it remembers publish ids.
public struct ChannelHistoryLimits: Sendable, Hashable {
    /// Publications kept per channel; older ones are dropped. Default 10,000.
    public var maxMessages: Int
    /// How long a publication is kept. Default one hour.
    public var maxAge: Duration
    /// The most publications one subscription replays. Default 10,000.
    public var maxReplay: Int
    /// How long a publish id is remembered, so a publish retried after a lost acknowledgement is
    /// stored once. Default five minutes.
    public var publishIDWindow: Duration
    /// Payload bytes the in-memory store keeps over all channels; past them the oldest
    /// publications go first (resuming subscribers then learn of the gap). The SQLite store
    /// keeps its history on disk, bounded by count and age. Default 256 MiB.
    public var maxBytes: Int
    /// Channels a store holds; a publish to one more is refused (`too-many-channels`). A channel
    /// stays counted once its history is trimmed away: the store keeps its last offset so that no
    /// offset is used twice in an epoch. Default 100,000.
    public var maxChannels: Int

    /// Limits; every parameter defaults as documented on its property.
    public init(maxMessages: Int = 10_000, maxAge: Duration = .seconds(3600), maxReplay: Int = 10_000,
                publishIDWindow: Duration = .seconds(300), maxBytes: Int = 256 << 20, maxChannels: Int = 100_000) {
        self.maxBytes = maxBytes
        self.maxMessages = maxMessages
        self.maxAge = maxAge
        self.maxReplay = maxReplay
        self.publishIDWindow = publishIDWindow
        self.maxChannels = maxChannels
    }
}

/// Why a store refused a publish; the server answers the client with the matching code.
public enum ChannelStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The store holds ``ChannelHistoryLimits/maxChannels`` channels.
    case tooManyChannels(limit: Int)
    /// The store cannot be reached or failed; retrying later can succeed.
    case unavailable(String)

    public var description: String {
        switch self {
        case .tooManyChannels(let limit): return "the store holds its limit of \(limit) channels"
        case .unavailable(let reason): return "the store is unavailable: \(reason)"
        }
    }
}

/// Where channels' streams live: offsets are assigned here, in order and without gaps per
/// channel, and the history a reconnecting subscriber replays is read from here.
///
/// The server calls ``append(_:)`` from one task at a time, with a batch of publishes that the
/// store makes durable together before it returns (the transaction is the batch's); it may read
/// (``state(of:)``, ``publications(of:after:limit:)``) concurrently with an append.
public protocol ChannelStore: Sendable {
    /// The limits the store keeps to.
    var limits: ChannelHistoryLimits { get }
    /// Whether the store can be reached now, as its last attempt found (for status pages and
    /// metrics); a store in this process always can.
    var health: ChannelStoreHealth { get }
    /// Appends `requests` in order and returns a receipt for each, in the same order.
    /// - Throws: ``ChannelStoreError`` for the whole batch: nothing of it is stored.
    func append(_ requests: [ChannelPublishRequest]) async throws -> [ChannelPublishReceipt]
    /// Where `channel`'s stream stands now.
    func state(of channel: ChannelName) async throws -> ChannelStreamState
    /// Up to `limit` publications of `channel` after offset `offset`, oldest first.
    func publications(of channel: ChannelName, after offset: UInt64, limit: Int) async throws -> [ChannelPublication]
    /// Drops what is older than the limits allow (publications, remembered ids).
    func trim() async throws
    /// Releases the store's resources; nothing is called after.
    func close() async throws
}

/// 16 random hexadecimal digits: a new epoch, or a client's publish-id prefix, that no other is
/// likely to share.
package func randomIdentifier() -> String {
    var generator = SystemRandomNumberGenerator()
    let digits = String(generator.next() as UInt64, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
