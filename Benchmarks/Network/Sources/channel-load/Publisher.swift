import Holdfast
import HoldfastChannels
import HoldfastCore
import NIOCore
import NIOConcurrencyHelpers

/// What a publisher run saw: the offsets the server acknowledged per channel, and when.
struct PublishOutcome: Sendable {
    /// Per channel index: the acknowledged offsets, lowest and highest, and how many.
    var firstOffset: [UInt64?]
    var lastOffset: [UInt64]
    var acknowledged: [Int]
    var epoch: String?
    var refusals = 0
    var firstRefusal: String?
    var startedAt: UInt64 = 0
    var lastSentAt: UInt64 = 0
    var lastAckAt: UInt64 = 0

    init(channels: Int) {
        firstOffset = Array(repeating: nil, count: channels)
        lastOffset = Array(repeating: 0, count: channels)
        acknowledged = Array(repeating: 0, count: channels)
    }

    var totalAcknowledged: Int { acknowledged.reduce(0, +) }
}

/// One connection publishing `count` messages round-robin over `channels`, with at most
/// `window` awaiting their ack and, with a `rate`, no faster than that many a second. One task
/// sends, one reads the acks; the window keeps the hub's queue (10,000 by default) from
/// refusing publishes.
struct Publisher: Sendable {
    var url: String
    var channels: [ChannelName]
    var count: Int
    var payloadSize: Int
    var window: Int
    /// Publishes a second; 0: as fast as the window allows.
    var rate: Double
    var configuration: WebSocketClientConfiguration
    var eventLoopGroup: any EventLoopGroup
    /// Where its socket is registered, so that a deadline can end it.
    var registry: SocketRegistry

    func run() async throws -> PublishOutcome {
        let encoder = PublishEncoder(channels: channels, payloadSize: payloadSize)
        let indexOf = Dictionary(uniqueKeysWithValues: channels.enumerated().map { ($1, $0) })
        let permits = Permits(window)
        let outcome = NIOLockedValueBox(PublishOutcome(channels: channels.count))
        try await WebSocketClient.connect(to: url, configuration: configuration, eventLoopGroup: eventLoopGroup) { socket in
            registry.add(socket)
            defer { registry.remove(socket) }
            guard socket.subprotocol == channelsSubprotocol else {
                throw LoadFailure("the server did not agree on \(channelsSubprotocol): is it `holdfast serve --mode channels`?")
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var answered = 0
                    for await message in socket.messages {
                        let now = monotonicNanoseconds()
                        let decoded: ChannelsServerMessage
                        do { decoded = try ChannelsServerMessage.decode(message) } catch {
                            permits.close()
                            throw LoadFailure("publisher: unreadable message from the server: \(error)")
                        }
                        switch decoded {
                        case .ack(let ack):
                            guard let index = indexOf[ack.channel] else { continue }
                            outcome.withLockedValue {
                                $0.epoch = ack.position.epoch
                                $0.firstOffset[index] = min($0.firstOffset[index] ?? .max, ack.position.offset)
                                $0.lastOffset[index] = max($0.lastOffset[index], ack.position.offset)
                                $0.acknowledged[index] += 1
                                $0.lastAckAt = now
                            }
                        case .error(let error):
                            outcome.withLockedValue {
                                $0.refusals += 1
                                if $0.firstRefusal == nil { $0.firstRefusal = "\(error.code.rawValue): \(error.reason)" }
                            }
                        default:
                            continue
                        }
                        answered += 1
                        permits.release()
                        if answered == count { return }
                    }
                    permits.close()
                    let outcome = await socket.closeOutcome
                    throw LoadFailure("publisher: the server closed the connection after \(answered) of \(count) answers (\(outcome))")
                }
                let start = monotonicNanoseconds()
                outcome.withLockedValue { $0.startedAt = start }
                for sequence in 0..<count {
                    // Refused only when the reader ended: its error is the one to report.
                    guard await permits.acquire() else { break }
                    if rate > 0 {
                        let due = start + UInt64(Double(sequence) / rate * 1e9)
                        let now = monotonicNanoseconds()
                        if due > now { try await Task.sleep(nanoseconds: due - now) }
                    }
                    let now = monotonicNanoseconds()
                    try await socket.send(encoder.publish(channelIndex: sequence % channels.count,
                                                          sequence: UInt64(sequence), sentAt: now))
                }
                outcome.withLockedValue { $0.lastSentAt = monotonicNanoseconds() }
                try await group.waitForAll()
            }
        }
        return outcome.withLockedValue { $0 }
    }
}
