import Foundation
import Holdfast
import HoldfastChannels
import HoldfastPostgres
import NIOCore
import Testing

/// Channel hubs of two nodes on one PostgreSQL: what one node stores reaches the other node's
/// subscribers, in offset order, once — by notice, or by polling when notices are lost.
@Suite("Channels across nodes on PostgreSQL", .timeLimit(.minutes(3)))
struct PostgresClusterHubTests {
    /// A store that passes everything on but its notices: only polling tells its hub of other
    /// nodes' publications.
    struct DeafStore: SharedChannelStore {
        let base: PostgresChannelStore
        var limits: ChannelHistoryLimits { base.limits }
        var pollInterval: Duration { base.pollInterval }
        func append(_ requests: [ChannelPublishRequest]) async throws -> [ChannelPublishReceipt] { try await base.append(requests) }
        func state(of channel: ChannelName) async throws -> ChannelStreamState { try await base.state(of: channel) }
        func publications(of channel: ChannelName, after offset: UInt64, limit: Int) async throws -> [ChannelPublication] {
            try await base.publications(of: channel, after: offset, limit: limit)
        }
        func trim() async throws { try await base.trim() }
        func close() async throws { try await base.close() }
        func appendNotices() -> AsyncStream<[ChannelName: UInt64]> { AsyncStream { _ in } }
        func lastOffsets(of channels: [ChannelName]) async throws -> [ChannelName: UInt64] { try await base.lastOffsets(of: channels) }
    }

    /// Reads publications from `peer` until it holds `count`, skipping acks; fails on anything else.
    static func publications(_ count: Int, from peer: inout ChannelsPeer) async throws -> [ChannelPublication] {
        var received: [ChannelPublication] = []
        while received.count < count {
            switch try await peer.next() {
            case .publication(let publication): received.append(publication)
            case .ack: continue
            case let other: Issue.record("unexpected \(other)"); return received
            }
        }
        return received
    }

    /// Room for a 1 MiB payload and its header.
    static let maxMessageSize = 2 << 20

    static func twoNodes(deaf: Bool = false, _ body: @escaping @Sendable (_ first: Int, _ second: Int, _ epoch: String) async throws -> Void)
        async throws
    {
        try await PostgresServer.with { server in
            let location = try PostgresLocation(url: server.url)
            let first = try await PostgresChannelStore.open(location, pollInterval: .milliseconds(300), logger: silentLogger)
            let second = try await PostgresChannelStore.open(location, pollInterval: .milliseconds(300), logger: silentLogger)
            let secondStore: any ChannelStore = deaf ? DeafStore(base: second) : second
            let webSocket = testWebSocketConfiguration(maxMessageSize: Self.maxMessageSize)
            try await withChannelServer(store: first, webSocket: webSocket) { _, firstPort in
                try await withChannelServer(store: secondStore, webSocket: webSocket) { _, secondPort in
                    try await body(firstPort, secondPort, first.epoch)
                }
            }
            try await first.close()
            try await second.close()
        }
    }

    @Test("what is published on one node reaches the other node's subscriber in order, once", arguments: [false, true])
    func publishedElsewhereDelivered(deaf: Bool) async throws {
        try await Self.twoNodes(deaf: deaf) { firstPort, secondPort, epoch in
            try await withChannelsPeer(port: secondPort) { subscriber in
                try await subscriber.send(.subscribe(channel: "news", since: nil))
                guard case .subscribed = try await subscriber.next() else { throw ChannelsPeer.ConnectionEnded() }
                try await withChannelsPeer(port: firstPort) { publisher in
                    for index in 1...50 {
                        try await publisher.send(.publish(channel: "news", id: "p-\(index)", message: .text("m\(index)")))
                    }
                    let received = try await Self.publications(50, from: &subscriber)
                    #expect(received.map(\.offset) == Array(1...50))
                    #expect(received.map(\.message) == (1...50).map { .text("m\($0)") })
                    #expect(Set(received.map(\.position.epoch)) == [epoch])
                }
            }
        }
    }

    @Test("both nodes publishing to one channel: a subscriber on each sees every offset in order, once")
    func interleavedPublishers() async throws {
        try await Self.twoNodes { firstPort, secondPort, _ in
            try await withChannelsPeer(port: firstPort) { onFirst in
                try await withChannelsPeer(port: secondPort) { onSecond in
                    try await onFirst.send(.subscribe(channel: "mixed", since: nil))
                    try await onSecond.send(.subscribe(channel: "mixed", since: nil))
                    guard case .subscribed = try await onFirst.next(), case .subscribed = try await onSecond.next() else {
                        throw ChannelsPeer.ConnectionEnded()
                    }
                    try await withChannelsPeer(port: firstPort) { publisherA in
                        try await withChannelsPeer(port: secondPort) { publisherB in
                            for index in 1...40 {
                                try await publisherA.send(.publish(channel: "mixed", id: "a-\(index)", message: .text("a\(index)")))
                                try await publisherB.send(.publish(channel: "mixed", id: "b-\(index)", message: .text("b\(index)")))
                            }
                            let seenFirst = try await Self.publications(80, from: &onFirst)
                            let seenSecond = try await Self.publications(80, from: &onSecond)
                            #expect(seenFirst.map(\.offset) == Array(1...80))
                            #expect(seenFirst == seenSecond)
                            let texts = seenFirst.compactMap(\.message.text)
                            #expect(texts.filter { $0.hasPrefix("a") } == (1...40).map { "a\($0)" })
                            #expect(texts.filter { $0.hasPrefix("b") } == (1...40).map { "b\($0)" })
                        }
                    }
                }
            }
        }
    }

    @Test("a subscriber resuming on the other node gets what it missed from the shared history, recovered")
    func resumeOnOtherNode() async throws {
        try await Self.twoNodes { firstPort, secondPort, epoch in
            let seen = try await withChannelsPeer(port: firstPort) { peer -> [ChannelPublication] in
                try await peer.send(.subscribe(channel: "resume", since: nil))
                _ = try await peer.next()
                for index in 1...5 { try await peer.send(.publish(channel: "resume", id: "r-\(index)", message: .text("\(index)"))) }
                return try await Self.publications(5, from: &peer)
            }
            try await withChannelsPeer(port: firstPort) { publisher in
                for index in 6...9 { try await publisher.send(.publish(channel: "resume", id: "r-\(index)", message: .text("\(index)"))) }
                for _ in 6...9 { _ = try await publisher.next() }
            }
            try await withChannelsPeer(port: secondPort) { peer in
                let last = try #require(seen.last).position
                try await peer.send(.subscribe(channel: "resume", since: last))
                #expect(try await peer.next() == .subscribed(ChannelSubscribed(
                    channel: "resume", position: StreamPosition(epoch: epoch, offset: 9), recovered: true, from: 6)))
                #expect(try await Self.publications(4, from: &peer).map(\.offset) == [6, 7, 8, 9])
            }
        }
    }

    @Test("payloads of 7,999, 8,000, 8,001 bytes and 1 MiB published on one node reach the other intact (NOTIFY's 8,000-byte limit never applies)")
    func payloadSizesAcrossNodes() async throws {
        try await Self.twoNodes { firstPort, secondPort, _ in
            try await withChannelsPeer(port: secondPort, maxMessageSize: Self.maxMessageSize) { subscriber in
                try await subscriber.send(.subscribe(channel: "sizes", since: nil))
                guard case .subscribed = try await subscriber.next() else { throw ChannelsPeer.ConnectionEnded() }
                let sent: [WebSocketMessage] = [7_999, 8_000, 8_001, 1 << 20].flatMap { size in
                    [WebSocketMessage.binary(ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ size) })),
                     .text(String(repeating: "ñ", count: size / 2))]
                }
                try await withChannelsPeer(port: firstPort, maxMessageSize: Self.maxMessageSize) { publisher in
                    for (index, message) in sent.enumerated() {
                        try await publisher.send(.publish(channel: "sizes", id: "s-\(index)", message: message))
                    }
                    let received = try await Self.publications(sent.count, from: &subscriber)
                    #expect(received.map(\.message) == sent)
                    #expect(received.map(\.offset) == Array(1...UInt64(sent.count)))
                }
            }
        }
    }

    @Test("a node whose PostgreSQL is gone still shuts down at once on SIGTERM (nothing waits for a dead connection)")
    func shutdownWithoutPostgres() async throws {
        try await PostgresServer.with { server in
            let node = try await ServeProcess.start(["--mode", "channels", "--store", server.url])
            try await withChannelsPeer(port: node.port) { peer in
                try await peer.send(.publish(channel: "gone", id: "g-1", message: .text("kept")))
                guard case .ack = try await peer.next() else { throw ChannelsPeer.ConnectionEnded() }
                try await peer.send(.subscribe(channel: "gone", since: nil))
                guard case .subscribed = try await peer.next() else { throw ChannelsPeer.ConnectionEnded() }
                await server.stopForRestart()
                // The node's periodic trim and poll are now stuck on connections to nowhere.
                try await Task.sleep(for: .seconds(2))
                let clock = ContinuousClock()
                let started = clock.now
                #expect(node.stop(signal: SIGTERM) == 0)
                #expect(clock.now - started < .seconds(8), "shutdown took \(clock.now - started)")
            }
            try await server.startAfterRestart()
        }
    }
}
