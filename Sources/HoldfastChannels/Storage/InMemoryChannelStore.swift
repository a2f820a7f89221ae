import Foundation
import HoldfastCore
import NIOConcurrencyHelpers

/// The default store: channels' streams in this process's memory, bounded by the limits.
///
/// Zero set-up, and nothing survives the process: a new store has a new epoch, so clients that
/// resume after a restart are told their history is gone (`recovered: false`).
public final class InMemoryChannelStore: ChannelStore {
    public let limits: ChannelHistoryLimits
    /// The epoch of every stream of this store.
    public let epoch: String
    private let now: @Sendable () -> Date
    private let streams = NIOLockedValueBox<[ChannelName: Stream]>([:])

    /// An empty store with a new epoch.
    /// - Parameters:
    ///   - limits: how much history to keep.
    ///   - now: the wall clock ages are measured on; tests pass one they control.
    public init(limits: ChannelHistoryLimits = .init(), now: @escaping @Sendable () -> Date = Date.init) {
        self.limits = limits
        self.epoch = makeEpoch()
        self.now = now
    }

    public func append(_ requests: [ChannelPublishRequest]) async throws -> [ChannelPublishReceipt] {
        let time = now()
        return try streams.withLockedValue { streams in
            let newChannels = Set(requests.map(\.channel)).filter { streams[$0] == nil }.count
            if newChannels > 0, streams.count + newChannels > limits.maxChannels {
                throw ChannelStoreError.tooManyChannels(limit: limits.maxChannels)
            }
            // Appended in place: a copy of the stream out of the dictionary would copy its history.
            return requests.map { request in
                streams[request.channel, default: Stream()].append(request, at: time, epoch: epoch, limits: limits)
            }
        }
    }

    public func state(of channel: ChannelName) async throws -> ChannelStreamState {
        let stream = streams.withLockedValue { $0[channel] } ?? Stream()
        return ChannelStreamState(position: StreamPosition(epoch: epoch, offset: stream.top),
                                  oldestRetained: stream.oldestRetained)
    }

    public func publications(of channel: ChannelName, after offset: UInt64, limit: Int) async throws
        -> [ChannelPublication]
    {
        let entries = streams.withLockedValue { $0[channel]?.entries(after: offset, limit: limit) } ?? []
        return entries.map {
            ChannelPublication(channel: channel, position: StreamPosition(epoch: epoch, offset: $0.offset),
                               message: $0.message)
        }
    }

    public func trim() async throws {
        let time = now()
        streams.withLockedValue { streams in
            for channel in Array(streams.keys) { streams[channel]?.trim(at: time, limits: limits) }
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

    private mutating func drop(count: Int) {
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
