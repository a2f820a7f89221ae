import Foundation
import HoldfastCore
import NIOConcurrencyHelpers

/// The default store: channels' streams in this process's memory, bounded by the limits.
///
/// Zero set-up, and nothing survives the process: a new store has a new epoch, so clients that
/// resume after a restart are told their history is gone (`recovered: false`). Besides each
/// channel's count and age limits, the whole history is bounded by ``ChannelHistoryLimits/maxBytes``
/// of payloads: past it, the oldest publications of any channel go first.
public final class InMemoryChannelStore: ChannelStore {
    public let limits: ChannelHistoryLimits
    /// The epoch of every stream of this store.
    public let epoch: String
    private let now: @Sendable () -> Date
    private let contents = NIOLockedValueBox(Contents())

    /// Every channel's stream, and the order in which publications were stored across channels,
    /// so that the oldest go first when the store holds ``ChannelHistoryLimits/maxBytes``.
    private struct Contents {
        var streams: [ChannelName: Stream] = [:]
        /// Publications in the order they were stored, from `head` on; entries whose
        /// publication was dropped otherwise (count, age) are skipped and compacted away.
        var order: [(channel: ChannelName, offset: UInt64)] = []
        var head = 0
        /// At least the payload bytes kept: appends add to it, drops by count and age do not
        /// subtract, so it is counted exactly (over every channel) only when it passes the limit.
        var bytesAtMost = 0

        /// Counts the payload bytes kept, and drops the oldest publications over all channels
        /// until they are within nine tenths of `maxBytes` (so the count is not needed again at
        /// once).
        mutating func evict(toFit maxBytes: Int) {
            var total = streams.values.reduce(0) { $0 + $1.bytes }
            defer { bytesAtMost = total }
            guard total > maxBytes else { return }
            let target = maxBytes / 10 * 9
            while total > target, head < order.count {
                let (channel, offset) = order[head]
                head += 1
                guard let before = streams[channel]?.bytes else { continue }
                streams[channel]?.drop(through: offset)
                total -= before - (streams[channel]?.bytes ?? 0)
            }
            let kept = streams.values.reduce(0) { $0 + $1.count }
            if head > 1024, order.count - head > 2 * kept {
                order = order[head...].filter { entry in (streams[entry.channel]?.oldestRetained ?? .max) <= entry.offset }
                head = 0
            } else if head > 1024, head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
        }
    }

    /// An empty store with a new epoch.
    /// - Parameters:
    ///   - limits: how much history to keep.
    ///   - now: the wall clock ages are measured on; tests pass one they control.
    public init(limits: ChannelHistoryLimits = .init(), now: @escaping @Sendable () -> Date = Date.init) {
        self.limits = limits
        self.epoch = randomIdentifier()
        self.now = now
    }

    public func append(_ requests: [ChannelPublishRequest]) async throws -> [ChannelPublishReceipt] {
        let time = now()
        return try contents.withLockedValue { contents in
            let newChannels = Set(requests.map(\.channel)).filter { contents.streams[$0] == nil }.count
            if newChannels > 0, contents.streams.count + newChannels > limits.maxChannels {
                throw ChannelStoreError.tooManyChannels(limit: limits.maxChannels)
            }
            var added = 0
            // Appended in place: a copy of the stream out of the dictionary would copy its history.
            let receipts = requests.map { request in
                let receipt = contents.streams[request.channel, default: Stream()].append(request, at: time, epoch: epoch,
                                                                                          limits: limits)
                if !receipt.duplicate {
                    contents.order.append((request.channel, receipt.position.offset))
                    added += request.message.data.readableBytes
                }
                return receipt
            }
            contents.bytesAtMost += added
            if contents.bytesAtMost > limits.maxBytes { contents.evict(toFit: limits.maxBytes) }
            return receipts
        }
    }

    public func state(of channel: ChannelName) async throws -> ChannelStreamState {
        let (top, oldest) = contents.withLockedValue { contents in
            contents.streams[channel].map { ($0.top, $0.oldestRetained) } ?? (0, 1)
        }
        return ChannelStreamState(position: StreamPosition(epoch: epoch, offset: top), oldestRetained: oldest)
    }

    public func publications(of channel: ChannelName, after offset: UInt64, limit: Int) async throws
        -> [ChannelPublication]
    {
        let entries = contents.withLockedValue { $0.streams[channel]?.entries(after: offset, limit: limit) } ?? []
        return entries.map {
            ChannelPublication(channel: channel, position: StreamPosition(epoch: epoch, offset: $0.offset),
                               message: $0.message)
        }
    }

    public func trim() async throws {
        let time = now()
        contents.withLockedValue { contents in
            for channel in Array(contents.streams.keys) { contents.streams[channel]?.trim(at: time, limits: limits) }
        }
    }

    public func close() async throws {}
}

/// One channel's stream in memory: its last offset, the kept history and the remembered ids.
private struct Stream {
    struct Entry {
        var offset: UInt64
        var message: WebSocketMessage
        var time: Date
    }

    private(set) var top: UInt64 = 0
    /// The history, oldest first, from `head` on (dropped entries are compacted away in bulk).
    private var history: [Entry] = []
    private var head = 0
    private var ids: [String: UInt64] = [:]
    private var idOrder: [(id: String, time: Date)] = []
    private var idHead = 0

    /// Payload bytes of the kept history.
    private(set) var bytes = 0
    /// Publications kept.
    var count: Int { history.count - head }

    var oldestRetained: UInt64 { head < history.count ? history[head].offset : top + 1 }

    mutating func append(_ request: ChannelPublishRequest, at time: Date, epoch: String,
                         limits: ChannelHistoryLimits) -> ChannelPublishReceipt
    {
        trim(at: time, limits: limits)
        if let id = request.id, let offset = ids[id] {
            return ChannelPublishReceipt(position: StreamPosition(epoch: epoch, offset: offset), duplicate: true)
        }
        top += 1
        history.append(Entry(offset: top, message: request.message, time: time))
        bytes += request.message.data.readableBytes
        if let id = request.id {
            ids[id] = top
            idOrder.append((id, time))
        }
        if history.count - head > limits.maxMessages { drop(count: history.count - head - limits.maxMessages) }
        return ChannelPublishReceipt(position: StreamPosition(epoch: epoch, offset: top), duplicate: false)
    }

    func entries(after offset: UInt64, limit: Int) -> [Entry] {
        guard head < history.count, limit > 0 else { return [] }
        // Offsets are consecutive from the oldest kept one.
        let first = history[head].offset
        let start = head + Int(offset >= first ? offset - first + 1 : 0)
        guard start < history.count else { return [] }
        return Array(history[start..<min(history.count, start + limit)])
    }

    mutating func trim(at time: Date, limits: ChannelHistoryLimits) {
        let oldest = time.addingTimeInterval(-limits.maxAge.seconds)
        var expired = 0
        while head + expired < history.count, history[head + expired].time < oldest { expired += 1 }
        if expired > 0 { drop(count: expired) }
        let forgotten = time.addingTimeInterval(-limits.publishIDWindow.seconds)
        while idHead < idOrder.count, idOrder[idHead].time < forgotten {
            ids[idOrder[idHead].id] = nil
            idHead += 1
        }
        if idHead > 1024, idHead * 2 > idOrder.count {
            idOrder.removeFirst(idHead)
            idHead = 0
        }
    }

    /// Drops the kept publications up to and including `offset`.
    mutating func drop(through offset: UInt64) {
        var dropped = 0
        while head + dropped < history.count, history[head + dropped].offset <= offset { dropped += 1 }
        if dropped > 0 { drop(count: dropped) }
    }

    private mutating func drop(count: Int) {
        for entry in history[head..<(head + count)] { bytes -= entry.message.data.readableBytes }
        head += count
        if head > 1024, head * 2 > history.count {
            history.removeFirst(head)
            head = 0
        }
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
