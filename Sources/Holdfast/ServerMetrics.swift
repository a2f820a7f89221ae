import Atomics
import HoldfastCore
import HoldfastNIO
import Metrics
import NIOConcurrencyHelpers
import NIOCore

/// A server's counters: what ``WebSocketServer/statistics`` reads, also recorded with
/// swift-metrics under `holdfast_server_*` names.
///
/// Message and byte counts are kept per event loop (a ``TrafficShard`` each), so that the hot
/// path is an uncontended atomic add on counters only that loop writes; reading sums the shards.
final class ServerMetrics: Sendable {
    private let shards: PerEventLoop<TrafficShard>
    private let open = ManagedAtomic<Int>(0)
    private let total = ManagedAtomic<Int>(0)
    private let closes = NIOLockedValueBox<[CloseCode: Int]>([:])
    private let departures = ManagedAtomic<Int>(0)
    private let recorded: RecordedMetrics

    init() {
        let recorded = RecordedMetrics()
        self.recorded = recorded
        shards = PerEventLoop { TrafficShard(recorded: recorded) }
    }

    /// The counters of the connections on `eventLoop`; looked up once per connection.
    func observer(for eventLoop: any EventLoop) -> TrafficShard {
        shards.value(for: eventLoop)
    }

    /// A connection was upgraded.
    func connectionOpened() {
        open.wrappingIncrement(ordering: .relaxed)
        total.wrappingIncrement(ordering: .relaxed)
        recorded.openConnections.increment()
        recorded.connections.increment()
    }

    /// A connection ended as `outcome` tells.
    func connectionClosed(_ outcome: CloseOutcome) {
        open.wrappingDecrement(ordering: .relaxed)
        recorded.openConnections.decrement()
        let code = outcome.code
        closes.withLockedValue { $0[code, default: 0] += 1 }
        if outcome.isDeparture {
            departures.wrappingIncrement(ordering: .relaxed)
            recorded.departures.increment()
        }
        Counter(label: "holdfast_server_closes_total",
                dimensions: [("code", String(code.rawValue)), ("name", code.name)]).increment()
    }

    /// Everything counted so far.
    var statistics: WebSocketServerStatistics {
        var statistics = WebSocketServerStatistics(openConnections: open.load(ordering: .relaxed),
                                                   totalConnections: total.load(ordering: .relaxed),
                                                   closes: closes.withLockedValue { $0 },
                                                   departures: departures.load(ordering: .relaxed))
        for shard in shards.all {
            statistics.messagesReceived += shard.messagesReceived.load(ordering: .relaxed)
            statistics.messagesSent += shard.messagesSent.load(ordering: .relaxed)
            statistics.bytesReceived += shard.bytesReceived.load(ordering: .relaxed)
            statistics.bytesSent += shard.bytesSent.load(ordering: .relaxed)
            statistics.slowConsumersClosed += shard.slowConsumersClosed.load(ordering: .relaxed)
        }
        return statistics
    }
}

/// The swift-metrics instruments a server records to; without a bootstrapped backend they do
/// nothing.
struct RecordedMetrics: Sendable {
    let connections = Counter(label: "holdfast_server_connections_total")
    let openConnections = Meter(label: "holdfast_server_connections")
    let messagesReceived = Counter(label: "holdfast_server_messages_total", dimensions: [("direction", "received")])
    let messagesSent = Counter(label: "holdfast_server_messages_total", dimensions: [("direction", "sent")])
    let bytesReceived = Counter(label: "holdfast_server_bytes_total", dimensions: [("direction", "received")])
    let bytesSent = Counter(label: "holdfast_server_bytes_total", dimensions: [("direction", "sent")])
    let slowConsumersClosed = Counter(label: "holdfast_server_slow_consumers_total")
    let departures = Counter(label: "holdfast_server_departures_total")
}

/// The message and byte counters of one event loop's connections. Only that loop writes them,
/// so the atomic adds are uncontended; any thread may read them.
final class TrafficShard: WebSocketTrafficObserver {
    let messagesReceived = ManagedAtomic<Int>(0)
    let messagesSent = ManagedAtomic<Int>(0)
    let bytesReceived = ManagedAtomic<Int>(0)
    let bytesSent = ManagedAtomic<Int>(0)
    let slowConsumersClosed = ManagedAtomic<Int>(0)
    private let recorded: RecordedMetrics

    init(recorded: RecordedMetrics) {
        self.recorded = recorded
    }

    func received(bytes: Int, endsMessage: Bool) {
        bytesReceived.wrappingIncrement(by: bytes, ordering: .relaxed)
        recorded.bytesReceived.increment(by: Int64(bytes))
        if endsMessage {
            messagesReceived.wrappingIncrement(ordering: .relaxed)
            recorded.messagesReceived.increment()
        }
    }

    func backlogExceeded() {
        slowConsumersClosed.wrappingIncrement(ordering: .relaxed)
        recorded.slowConsumersClosed.increment()
    }

    func sent(bytes: Int, endsMessage: Bool) {
        bytesSent.wrappingIncrement(by: bytes, ordering: .relaxed)
        recorded.bytesSent.increment(by: Int64(bytes))
        if endsMessage {
            messagesSent.wrappingIncrement(ordering: .relaxed)
            recorded.messagesSent.increment()
        }
    }
}
