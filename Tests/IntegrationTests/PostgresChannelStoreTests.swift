import Foundation
import Holdfast
import HoldfastChannels
import HoldfastPostgres
import HoldfastTestSupport
import NIOCore
import Testing

/// The PostgreSQL channel store on a real, throw-away PostgreSQL: offsets assigned in the
/// database under concurrent nodes, payloads of any size, publish ids across nodes, trimming,
/// the epoch across restarts, notices, and what happens while PostgreSQL is away.
@Suite("PostgreSQL channel store", .timeLimit(.minutes(3)))
struct PostgresChannelStoreTests {
    static func open(_ server: PostgresServer, limits: ChannelHistoryLimits = .init()) async throws -> PostgresChannelStore {
        try await PostgresChannelStore.open(try PostgresLocation(url: server.url), limits: limits,
                                            pollInterval: .milliseconds(200), logger: silentLogger)
    }

    static func offsets(of store: PostgresChannelStore, _ channel: ChannelName) async throws -> [UInt64] {
        var offsets: [UInt64] = []
        var after: UInt64 = 0
        while true {
            let page = try await store.publications(of: channel, after: after, limit: 500)
            guard let last = page.last else { return offsets }
            offsets += page.map(\.offset)
            after = last.offset
        }
    }

    @Test("three nodes appending batches to the same channels at once: each channel's offsets are 1…N, every publish once")
    func concurrentNodesGapFree() async throws {
        try await PostgresServer.with { server in
            let nodes = [try await Self.open(server), try await Self.open(server), try await Self.open(server)]
            let channels: [ChannelName] = ["a", "b", "c"]
            let receipts = try await withThrowingTaskGroup(of: [(String, ChannelPublishReceipt)].self) { group in
                for (node, store) in nodes.enumerated() {
                    group.addTask {
                        var mine: [(String, ChannelPublishReceipt)] = []
                        for round in 0..<40 {
                            // Batches touching the channels in different orders on each node.
                            let batch = (0..<6).map { index in
                                ChannelPublishRequest(channel: channels[(node + index + round) % 3],
                                                      message: .text("n\(node)-r\(round)-i\(index)"))
                            }
                            let stored = try await store.append(batch)
                            mine += zip(batch, stored).map { ($0.message.text ?? "", $1) }
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(receipts.count == 3 * 40 * 6)
            #expect(Set(receipts.map(\.1.position.epoch)).count == 1)
            for channel in channels {
                let offsets = try await Self.offsets(of: nodes[0], channel)
                #expect(offsets == Array(1...UInt64(offsets.count)), "channel \(channel) has a gap or a repeat")
                let texts = try await nodes[1].publications(of: channel, after: 0, limit: 1000).compactMap(\.message.text)
                #expect(Set(texts).count == texts.count)
            }
            let total = try await channels.asyncMap { try await Self.offsets(of: nodes[2], $0).count }.reduce(0, +)
            #expect(total == receipts.count)
            for node in nodes { try await node.close() }
        }
    }

    @Test("payloads of 7,999, 8,000, 8,001 bytes and 1 MiB, text and binary, come back whole from another node")
    func payloadSizes() async throws {
        try await PostgresServer.with { server in
            let writer = try await Self.open(server)
            let reader = try await Self.open(server)
            let sizes = [0, 7_999, 8_000, 8_001, 1 << 20]
            var sent: [WebSocketMessage] = []
            for size in sizes {
                sent.append(.binary(ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })))
                sent.append(.text(String(repeating: "é", count: size / 2)))
            }
            _ = try await writer.append(sent.map { ChannelPublishRequest(channel: "big", message: $0) })
            let back = try await reader.publications(of: "big", after: 0, limit: 100)
            #expect(back.map(\.message) == sent)
            try await writer.close()
            try await reader.close()
        }
    }

    @Test("a publish id retried on another node is stored once, with the first offset; a repeat in one batch too")
    func publishIDsAcrossNodes() async throws {
        try await PostgresServer.with { server in
            let first = try await Self.open(server)
            let second = try await Self.open(server)
            let stored = try await first.append([ChannelPublishRequest(channel: "ids", id: "p-1", message: .text("one"))])
            let retried = try await second.append([ChannelPublishRequest(channel: "ids", id: "p-1", message: .text("one")),
                                                   ChannelPublishRequest(channel: "ids", id: "p-2", message: .text("two")),
                                                   ChannelPublishRequest(channel: "ids", id: "p-2", message: .text("two")),
                                                   ChannelPublishRequest(channel: "other", id: "p-1", message: .text("x"))])
            #expect(stored.map(\.duplicate) == [false])
            #expect(retried.map(\.duplicate) == [true, false, true, false])
            #expect(retried.map(\.position.offset) == [1, 2, 2, 1])
            #expect(try await Self.offsets(of: first, "ids") == [1, 2])
            try await first.close()
            try await second.close()
        }
    }

    @Test("history is trimmed by count and by age; offsets go on from the top")
    func trimming() async throws {
        try await PostgresServer.with { server in
            let byCount = try await Self.open(server, limits: ChannelHistoryLimits(maxMessages: 5))
            _ = try await byCount.append((1...12).map { ChannelPublishRequest(channel: "t", message: .text("\($0)")) })
            try await byCount.trim()
            #expect(try await Self.offsets(of: byCount, "t") == [8, 9, 10, 11, 12])
            #expect(try await byCount.state(of: "t") == ChannelStreamState(position: StreamPosition(epoch: byCount.epoch, offset: 12),
                                                                          oldestRetained: 8))
            try await byCount.close()
            // Another node keeping one second of history trims the same table by age.
            let byAge = try await Self.open(server, limits: ChannelHistoryLimits(maxAge: .seconds(1)))
            try await Task.sleep(for: .milliseconds(1300))
            try await byAge.trim()
            #expect(try await Self.offsets(of: byAge, "t") == [])
            #expect(try await byAge.state(of: "t").oldestRetained == 13)
            #expect(try await byAge.append([ChannelPublishRequest(channel: "t", message: .text("next"))])
                .map(\.position.offset) == [13])
            try await byAge.close()
        }
    }

    @Test("a batch creating channels past maxChannels is refused whole")
    func channelLimit() async throws {
        try await PostgresServer.with { server in
            let store = try await Self.open(server, limits: ChannelHistoryLimits(maxChannels: 2))
            _ = try await store.append([ChannelPublishRequest(channel: "one", message: .text("1"))])
            await #expect(throws: ChannelStoreError.tooManyChannels(limit: 2)) {
                try await store.append([ChannelPublishRequest(channel: "one", message: .text("2")),
                                        ChannelPublishRequest(channel: "two", message: .text("3")),
                                        ChannelPublishRequest(channel: "three", message: .text("4"))])
            }
            #expect(try await Self.offsets(of: store, "one") == [1])
            #expect(try await store.lastOffsets(of: ["one", "two", "three"]) == ["one": 1])
            try await store.close()
        }
    }

    @Test("the epoch and the streams outlive the nodes and a PostgreSQL restart; a new database gets a new epoch")
    func epochAcrossRestarts() async throws {
        try await PostgresServer.with { server in
            let store = try await Self.open(server)
            _ = try await store.append([ChannelPublishRequest(channel: "kept", message: .text("1"))])
            let epoch = store.epoch
            try await store.close()
            try await server.restart()
            let reopened = try await Self.open(server)
            #expect(reopened.epoch == epoch)
            #expect(try await reopened.state(of: "kept").position == StreamPosition(epoch: epoch, offset: 1))
            try await reopened.close()
            #expect(try await server.psql("SELECT value FROM holdfast_meta WHERE key = 'channels_schema_version'") == "1")
        }
        try await PostgresServer.with { other in
            let store = try await Self.open(other)
            #expect(try await store.state(of: "kept").position.offset == 0)
            try await store.close()
        }
    }

    @Test("another node's append arrives as a notice naming the channel and its last offset")
    func notices() async throws {
        try await PostgresServer.with { server in
            let listening = try await Self.open(server)
            let publishing = try await Self.open(server)
            let notices = listening.appendNotices()
            // The listener connects in the background: publish until a notice comes.
            let heard = try await withTimeout("a notice of the append", limit: .seconds(20)) {
                try await withThrowingTaskGroup(of: [ChannelName: UInt64]?.self) { group in
                    group.addTask {
                        for round in 1...200 {
                            _ = try await publishing.append([ChannelPublishRequest(channel: "heard", message: .text("\(round)"))])
                            try await Task.sleep(for: .milliseconds(50))
                        }
                        return nil
                    }
                    group.addTask {
                        var iterator = notices.makeAsyncIterator()
                        return await iterator.next()
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? nil
                }
            }
            let notice = try #require(heard)
            let offset = try #require(notice["heard"])
            #expect(offset >= 1)
            #expect(try await listening.lastOffsets(of: ["heard"])["heard"].map { $0 >= offset } == true)
            try await listening.close()
            try await publishing.close()
        }
    }

    @Test("while PostgreSQL is down, appends fail at once as unavailable and health says why; once it is back they succeed")
    func unreachableThenBack() async throws {
        try await PostgresServer.with { server in
            let store = try await Self.open(server)
            _ = try await store.append([ChannelPublishRequest(channel: "u", message: .text("before"))])
            #expect(store.health == .available)
            try await server.stopForRestart()
            // The first append finds the connection gone; the next ones fail without waiting.
            await #expect(throws: ChannelStoreError.self) {
                try await store.append([ChannelPublishRequest(channel: "u", message: .text("lost"))])
            }
            let clock = ContinuousClock()
            let started = clock.now
            await #expect(throws: ChannelStoreError.self) {
                try await store.append([ChannelPublishRequest(channel: "u", message: .text("lost"))])
            }
            #expect(clock.now - started < .milliseconds(100))
            guard case .unavailable(let reason) = store.health else {
                Issue.record("health is \(store.health) while PostgreSQL is down")
                return
            }
            #expect(reason.contains("PostgreSQL"))
            try await server.startAfterRestart()
            let stored = try await withTimeout("an append after PostgreSQL is back", limit: .seconds(30)) {
                while true {
                    if let receipts = try? await store.append([ChannelPublishRequest(channel: "u", message: .text("after"))]) {
                        return receipts
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(stored.map(\.position.offset) == [2])
            #expect(store.health == .available)
            try await store.close()
        }
    }
}

extension Sequence {
    /// `map` with an async transform, one element after another.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
