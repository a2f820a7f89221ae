import Holdfast
import HoldfastChannels
import HoldfastCore
import NIOCore
import NIOConcurrencyHelpers

/// What one subscription received, and whether it was every offset exactly once in order.
struct SubscriptionResult: Sendable {
    var subscribed: ChannelSubscribed?
    var received = 0
    var bytes = 0
    /// Offsets out of order, repeated or skipped; the first one described.
    var violations = 0
    var firstViolation: String?
    /// The last offset received.
    var lastOffset: UInt64 = 0
    var latencies = LatencyHistogram()
    var subscribedAt: UInt64 = 0
    var firstDeliveryAt: UInt64 = 0
    var lastDeliveryAt: UInt64 = 0
    /// Why it ended before receiving everything, if it did.
    var failure: String?

    mutating func violation(_ text: String) {
        violations += 1
        if firstViolation == nil { firstViolation = text }
    }
}

/// The sockets still open, so that a run past its deadline can end them (their message loops
/// then finish) and stop by itself.
final class SocketRegistry: Sendable {
    private let sockets = NIOLockedValueBox<[ObjectIdentifier: WebSocket]>([:])

    func add(_ socket: WebSocket) { sockets.withLockedValue { $0[ObjectIdentifier(socket)] = socket } }
    func remove(_ socket: WebSocket) { _ = sockets.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(socket)) } }

    /// Aborts every socket still registered; returns how many.
    func abortAll() -> Int {
        let open = sockets.withLockedValue { sockets in defer { sockets = [:] }; return Array(sockets.values) }
        for socket in open { socket.abort() }
        return open.count
    }
}

/// One connection subscribed to one channel, reading until it has `expected` publications.
///
/// A task per connection that only iterates its messages: publications are read by
/// ``FastPublication`` (the first one is also decoded by the library and compared), other
/// messages by `ChannelsServerMessage.decode`.
struct Subscriber: Sendable {
    var url: String
    var channel: ChannelName
    var since: StreamPosition?
    var expected: Int
    var configuration: WebSocketClientConfiguration
    var eventLoopGroup: any EventLoopGroup
    var registry: SocketRegistry
    /// Held while connecting and subscribing; released once `subscribed` arrived (or it failed).
    var connecting: Permits
    /// Called once, when the subscription is in place or has failed.
    var onReady: @Sendable () -> Void

    func run() async -> SubscriptionResult {
        var result = SubscriptionResult()
        var ready = false
        func becomeReady() {
            guard !ready else { return }
            ready = true
            connecting.release()
            onReady()
        }
        await connecting.acquire()
        do {
            result = try await WebSocketClient.connect(to: url, configuration: configuration,
                                                       eventLoopGroup: eventLoopGroup) { socket in
                registry.add(socket)
                defer { registry.remove(socket) }
                var result = SubscriptionResult()
                guard socket.subprotocol == channelsSubprotocol else {
                    result.failure = "the server did not agree on \(channelsSubprotocol)"
                    return result
                }
                result.subscribedAt = monotonicNanoseconds()
                try await socket.send(ChannelsClientMessage.subscribe(channel: channel, since: since).encoded)
                var nextOffset: UInt64?
                // Lowered when a resume is answered `recovered: false`: only what the history
                // holds follows, and waiting for the rest would last until the deadline.
                var target = expected
                for await message in socket.messages {
                    let now = monotonicNanoseconds()
                    if let publication = FastPublication(message), nextOffset != nil {
                        if result.received == 0 { result.firstDeliveryAt = now }
                        deliver(publication, bytes: message.data.readableBytes, at: now, next: &nextOffset, into: &result)
                        if result.received == 1, case .publication(let full)? = try? ChannelsServerMessage.decode(message),
                           full.channel != channel || full.offset != publication.offset {
                            result.violation("the fast reader read offset \(publication.offset), the library \(full.offset) on \(full.channel)")
                        }
                        if result.received >= target { break }
                        continue
                    }
                    let decoded: ChannelsServerMessage
                    do { decoded = try ChannelsServerMessage.decode(message) } catch {
                        result.failure = "unreadable message: \(error)"
                        break
                    }
                    switch decoded {
                    case .subscribed(let answer):
                        result.subscribed = answer
                        nextOffset = answer.from
                        if since != nil, answer.recovered == false {
                            let held = answer.position.offset >= answer.from ? answer.position.offset - answer.from + 1 : 0
                            target = min(target, Int(held))
                        }
                        becomeReady()
                    case .publication:
                        result.violation("a publication before the subscribe was answered")
                    case .error(let error):
                        result.failure = "refused: \(error.code.rawValue): \(error.reason)"
                    default:
                        continue
                    }
                    if result.failure != nil || (target == 0 && result.subscribed != nil) { break }
                }
                if result.failure == nil, result.received < target {
                    let outcome = await socket.closeOutcome
                    result.failure = "closed after \(result.received) of \(target) publications (\(outcome))"
                }
                return result
            }
        } catch {
            result.failure = "connection failed: \(error)"
        }
        becomeReady()
        return result
    }

    private func deliver(_ publication: FastPublication, bytes: Int, at now: UInt64, next: inout UInt64?,
                         into result: inout SubscriptionResult) {
        let expectedOffset = next ?? publication.offset
        if publication.offset != expectedOffset {
            result.violation(publication.offset < expectedOffset
                ? "offset \(publication.offset) again or out of order after \(expectedOffset - 1)"
                : "offsets \(expectedOffset)–\(publication.offset - 1) skipped")
        }
        next = max(expectedOffset, publication.offset + 1)
        result.received += 1
        result.bytes += bytes
        result.lastOffset = publication.offset
        result.lastDeliveryAt = now
        if let sentAt = publication.sentAt, sentAt <= now, sentAt > result.subscribedAt {
            result.latencies.record(now - sentAt)
        }
    }
}
