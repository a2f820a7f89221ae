import Holdfast
import HoldfastChannels
import HoldfastTestSupport
import NIOCore
import Testing

/// What a subscriber gets back after the server cut it off, and what a publisher's retry stores.
@Suite("Channels — slow subscribers, retried publishes and oversized ones", .timeLimit(.minutes(1)))
struct ChannelRecoveryTests {
    @Test("a subscriber that stops reading is closed with 1013 and, resuming from its last offset, misses nothing")
    func slowSubscriberRecovers() async throws {
        let store = InMemoryChannelStore()
        var webSocket = testWebSocketConfiguration()
        webSocket.maxBacklog = 256 << 10
        let count = 400
        // Random bytes: deflate must not shrink the backlog away.
        var generator = SystemRandomNumberGenerator()
        let payload = (0..<(64 << 10)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try await withChannelServer(store: store, webSocket: webSocket) { hub, port in
            var received: [UInt64] = []
            try await withChannelsPeer(port: port) { subscriber in
                try await subscriber.send(.subscribe(channel: "feed", since: nil))
                _ = try await subscriber.next()
                // Publish far more than the socket buffers and the backlog hold, without reading.
                try await withChannelsPeer(port: port) { publisher in
                    for index in 0..<count {
                        var message = payload
                        message[0] = UInt8(truncatingIfNeeded: index)
                        try await publisher.send(.publish(channel: "feed", id: "p\(index)", message: .binary(message)))
                    }
                    for _ in 0..<count { _ = try await publisher.next() }
                }
                // What the socket held still arrives, then the close.
                while case .publication(let publication)? = try? await subscriber.next() {
                    received.append(publication.offset)
                }
                let outcome = await subscriber.webSocket.closeOutcome
                #expect(outcome.code == .tryAgainLater)
                #expect(outcome.reason.contains("outbound backlog exceeds limit"), "\(outcome.reason)")
            }
            let readBeforeTheClose = received.count
            #expect(readBeforeTheClose < count, "the subscriber was never cut off")
            #expect(received == Array(1...UInt64(received.count)))
            // It resumes from the last offset it read; the history holds the rest.
            try await withChannelsPeer(port: port) { subscriber in
                try await subscriber.send(.subscribe(channel: "feed", since: StreamPosition(epoch: store.epoch,
                                                                                            offset: UInt64(received.count))))
                guard case .subscribed(let answer) = try await subscriber.next() else {
                    Issue.record("expected the subscribe's answer")
                    return
                }
                #expect(answer.recovered == true)
                #expect(answer.from == UInt64(received.count) + 1)
                while received.count < count {
                    guard case .publication(let publication) = try await subscriber.next() else { continue }
                    #expect(publication.message.data.readableBytes == payload.count)
                    #expect(publication.message.data.readableBytesView.first == UInt8(truncatingIfNeeded: publication.offset - 1))
                    received.append(publication.offset)
                }
            }
            #expect(received == Array(1...UInt64(count)))
            #expect(hub.statistics.replayed == count - readBeforeTheClose)
        }
    }

    @Test("a publish whose connection dropped before its ack, sent again with its id, is stored once")
    func retriedPublishStoredOnce() async throws {
        let store = InMemoryChannelStore()
        try await withChannelServer(store: store) { hub, port in
            try await withChannelsPeer(port: port) { subscriber in
                try await subscriber.send(.subscribe(channel: "orders", since: nil))
                _ = try await subscriber.next()
                // The first connection sends the publish and is gone before it can read the ack.
                try await withChannelsPeer(port: port) { publisher in
                    try await publisher.send(.publish(channel: "orders", id: "order-7", message: .text("buy 7")))
                    guard case .publication(let first) = try await subscriber.next() else {
                        Issue.record("expected the publication")
                        return
                    }
                    #expect(first.offset == 1)
                    publisher.webSocket.abort()
                }
                try await withChannelsPeer(port: port) { publisher in
                    try await publisher.send(.publish(channel: "orders", id: "order-7", message: .text("buy 7")))
                    #expect(try await publisher.next() == .ack(ChannelPublishAck(
                        id: "order-7", channel: "orders", position: StreamPosition(epoch: store.epoch, offset: 1), duplicate: true)))
                    try await publisher.send(.publish(channel: "orders", id: "order-8", message: .text("buy 8")))
                    _ = try await publisher.next()
                }
                // The next publication the subscriber sees is order 8 at offset 2: 7 came once.
                guard case .publication(let next) = try await subscriber.next() else {
                    Issue.record("expected the next publication")
                    return
                }
                #expect(next.offset == 2)
                #expect(next.message == .text("buy 8"))
                #expect(try await store.publications(of: "orders", after: 0, limit: 10).map(\.message)
                        == [.text("buy 7"), .text("buy 8")])
                #expect(hub.statistics.duplicates == 1)
            }
        }
    }

    @Test("a publish over the message limit closes the connection with 1009 naming the limit; nothing is stored")
    func oversizedPublish() async throws {
        let store = InMemoryChannelStore()
        try await withChannelServer(store: store, webSocket: testWebSocketConfiguration(maxMessageSize: 4096)) { _, port in
            // A raw peer that ignores the announced limit.
            let (response, close) = try await RawConnection.with(port: port) { connection in
                try await connection.write(upgradeRequest(host: "127.0.0.1:\(port)",
                                                          extraHeaders: "Sec-WebSocket-Protocol: \(channelsSubprotocol)\r\n"))
                let response = try await connection.readHTTPHead()
                let publish = ChannelsClientMessage.publish(channel: "big", id: nil, message: .binary([UInt8](repeating: 1, count: 5000)))
                try await connection.write(maskedFrame(opcode: 0x2, payload: Array(publish.encoded.data.readableBytesView)))
                return (response, try await connection.readSmallFrame())
            }
            #expect(response.contains("Sec-WebSocket-Protocol: holdfast.channels.v1\r\n"))
            #expect(close.firstByte == 0x88)
            #expect(Array(close.payload.readableBytesView) == closePayload(1009, "message exceeds limit of 4096 bytes"))
            #expect(try await store.state(of: "big").position.offset == 0)
        }
    }
}
