import Foundation
import Holdfast
import HoldfastChannels
import HoldfastCloseCodes

/// What the status page shows at one moment, as the JSON pushed to it every second: the server's
/// ``WebSocketServerStatistics`` without the status page's own connections and pushes, and the
/// message rates over the last second or so.
struct StatusSnapshot: Encodable, Sendable {
    /// One close code and how many connections ended with it.
    struct Close: Encodable, Sendable {
        let code: Int
        let name: String
        let title: String
        let count: Int
    }

    /// Connections open now (status-page viewers not counted).
    let connections: Int
    /// Status pages watching now.
    let viewers: Int
    /// Connections since the server started (viewers not counted).
    let totalConnections: Int
    let messagesReceived: Int
    let messagesSent: Int
    let bytesReceived: Int
    let bytesSent: Int
    /// Messages received per second lately; `nil` until there are two samples.
    let receivedPerSecond: Double?
    /// Messages sent per second lately; `nil` until there are two samples.
    let sentPerSecond: Double?
    /// The channels of `--mode channels` (with the publishes per second lately); `nil` in the other modes.
    let channels: Channels?
    /// Closes by code, in code order.
    let closes: [Close]
    /// Clients closed for reading too slowly (their outbound backlog passed the budget).
    let slowConsumersClosed: Int
    /// Clients that left of their own accord: a page's 4001 from `holdfast.js` on `pagehide`, or a
    /// browser's own 1001 on unload (each also in ``closes``; not failures).
    let pageDepartures: Int
    let uptimeSeconds: Int

    /// Messages per second lately, from two snapshots.
    struct Rates: Sendable {
        let received: Double
        let sent: Double
        /// Publishes stored per second (`--mode channels`).
        let published: Double
    }

    /// The channels' figures: the hub's statistics, where the history lives, and the rate.
    struct Channels: Encodable, Sendable {
        let statistics: ChannelHubStatistics
        /// Where the history is kept, for people.
        let store: String
        /// Publishes stored per second lately; `nil` until there are two samples.
        let publishedPerSecond: Double?
    }

    /// The page's figures from the server's `statistics` less the `viewers`' own share, and the
    /// channels' when the server has them; the rates come from ``rates(since:elapsed:)``.
    init(statistics: WebSocketServerStatistics, viewers: WebSocketServerStatistics,
         channels: (statistics: ChannelHubStatistics, store: String)? = nil, rates: Rates?, uptimeSeconds: Int) {
        connections = max(0, statistics.openConnections - viewers.openConnections)
        self.viewers = viewers.openConnections
        totalConnections = max(0, statistics.totalConnections - viewers.totalConnections)
        messagesReceived = max(0, statistics.messagesReceived - viewers.messagesReceived)
        messagesSent = max(0, statistics.messagesSent - viewers.messagesSent)
        bytesReceived = max(0, statistics.bytesReceived - viewers.bytesReceived)
        bytesSent = max(0, statistics.bytesSent - viewers.bytesSent)
        receivedPerSecond = rates?.received
        sentPerSecond = rates?.sent
        closes = statistics.closes.compactMap { code, count -> Close? in
            let remaining = count - (viewers.closes[code] ?? 0)
            guard remaining > 0 else { return nil }
            let info = CloseCodeCatalog.entry(for: code)
            return Close(code: Int(code.rawValue), name: info.name, title: info.title, count: remaining)
        }.sorted { $0.code < $1.code }
        slowConsumersClosed = statistics.slowConsumersClosed - viewers.slowConsumersClosed
        pageDepartures = max(0, statistics.departures - viewers.departures)
        self.channels = channels.map {
            Channels(statistics: $0.statistics, store: $0.store, publishedPerSecond: rates?.published)
        }
        self.uptimeSeconds = uptimeSeconds
    }

    /// Messages per second received, sent and published between `earlier` and this snapshot,
    /// `elapsed` seconds apart.
    func rates(since earlier: StatusSnapshot, elapsed: Double) -> Rates {
        let published = (channels?.statistics.published ?? 0) - (earlier.channels?.statistics.published ?? 0)
        return Rates(received: Double(max(0, messagesReceived - earlier.messagesReceived)) / elapsed,
                     sent: Double(max(0, messagesSent - earlier.messagesSent)) / elapsed,
                     published: Double(max(0, published)) / elapsed)
    }

    /// The snapshot as one line of JSON.
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
