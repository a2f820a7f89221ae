import Foundation
import HoldfastChannels
import HoldfastCore
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// The stores' contract, run against every engine; the SQLite store's persistence after it.
@Suite struct ChannelStoreTests {
    /// A store implementation under test.
    enum Engine: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case memory
        case sqlite

        var testDescription: String { rawValue }
    }

    /// A wall clock the test moves by hand.
    final class Clock: Sendable {
        private let time = NIOLockedValueBox(Date(timeIntervalSince1970: 1_700_000_000))

        var now: @Sendable () -> Date { { self.time.withLockedValue { $0 } } }

        func advance(seconds: TimeInterval) {
            time.withLockedValue { $0.addTimeInterval(seconds) }
        }
    }

    /// A fresh directory for one test's database, removed by the caller.
    static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("holdfast-channels-\(UUID())")
    }

    /// Opens a store of `engine` (the SQLite one in `directory`).
    static func open(_ engine: Engine, in directory: URL, limits: ChannelHistoryLimits, clock: Clock) async throws
        -> any ChannelStore
    {
        switch engine {
        case .memory: return InMemoryChannelStore(limits: limits, now: clock.now)
        case .sqlite: return try await SQLiteChannelStore.open(directory: directory, limits: limits, now: clock.now)
        }
    }

    /// Runs `body` with a new store of `engine`, then closes it and removes its files.
    static func withStore(_ engine: Engine, limits: ChannelHistoryLimits = .init(), clock: Clock = Clock(),
                          _ body: (any ChannelStore) async throws -> Void) async throws
    {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await using(try await open(engine, in: directory, limits: limits, clock: clock), body)
    }

    /// Runs `body` with `store` and closes it, whether `body` throws or not.
    static func using<Store: ChannelStore, T>(_ store: Store, _ body: (Store) async throws -> T) async throws -> T {
        do {
            let result = try await body(store)
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// Runs `body` with the SQLite store in `directory`, then closes it.
    static func withSQLite<T>(in directory: URL, limits: ChannelHistoryLimits = .init(), clock: Clock = Clock(),
                              _ body: (SQLiteChannelStore) async throws -> T) async throws -> T
    {
        try await using(try await SQLiteChannelStore.open(directory: directory, limits: limits, now: clock.now), body)
    }

    static func publish(_ channel: ChannelName, _ text: String, id: String? = nil) -> ChannelPublishRequest {
        ChannelPublishRequest(channel: channel, id: id, message: .text(text))
    }

    static func offsets(_ receipts: [ChannelPublishReceipt]) -> [UInt64] { receipts.map(\.position.offset) }

    static func offsets(of store: any ChannelStore, _ channel: ChannelName, after offset: UInt64 = 0,
                        limit: Int = 100) async throws -> [UInt64]
    {
        try await store.publications(of: channel, after: offset, limit: limit).map(\.offset)
    }

    // MARK: - Every engine

    @Test("offsets are consecutive per channel, channels independent, receipts in batch order",
          arguments: Engine.allCases)
    func offsetsPerChannel(engine: Engine) async throws {
        try await Self.withStore(engine) { store in
            let first = try await store.append([Self.publish("a", "1"), Self.publish("a", "2"), Self.publish("b", "1"),
                                                Self.publish("a", "3")])
            #expect(Self.offsets(first) == [1, 2, 1, 3])
            #expect(first.allSatisfy { !$0.duplicate })
            let second = try await store.append([Self.publish("b", "2"), Self.publish("a", "4")])
            #expect(Self.offsets(second) == [2, 4])
            let epoch = try await store.state(of: "a").position.epoch
            #expect(Set((first + second).map(\.position.epoch)) == [epoch])
            #expect(try await store.state(of: "a") == ChannelStreamState(position: .init(epoch: epoch, offset: 4),
                                                                         oldestRetained: 1))
            #expect(try await store.state(of: "b").position.offset == 2)
            let texts = try await store.publications(of: "a", after: 0, limit: 10).map { $0.message.text }
            #expect(texts == ["1", "2", "3", "4"])
        }
    }

    @Test("text and binary messages come back with their kind and bytes", arguments: Engine.allCases)
    func kindsAndBytes(engine: Engine) async throws {
        let messages: [WebSocketMessage] = [
            .text("héllo ✓"), .binary(Array(0...255) as [UInt8]), .binary([] as [UInt8]), .text(""),
            .binary([0, 0, 10, 0] as [UInt8]),
        ]
        try await Self.withStore(engine) { store in
            _ = try await store.append(messages.map { ChannelPublishRequest(channel: "k", message: $0) })
            let stored = try await store.publications(of: "k", after: 0, limit: 10)
            #expect(stored.map(\.message) == messages)
            #expect(stored.map(\.message.kind) == [.text, .binary, .binary, .text, .binary])
            #expect(stored.map(\.channel) == Array(repeating: "k", count: messages.count))
        }
    }

    @Test("a publish id repeated within the window is stored once; after it, anew; per channel",
          arguments: Engine.allCases)
    func duplicates(engine: Engine) async throws {
        let clock = Clock()
        try await Self.withStore(engine, limits: .init(publishIDWindow: .seconds(60)), clock: clock) { store in
            #expect(Self.offsets(try await store.append([Self.publish("a", "x"), Self.publish("a", "first", id: "p1")]))
                == [1, 2])
            clock.advance(seconds: 59)
            let again = try await store.append([Self.publish("a", "retry", id: "p1"), Self.publish("b", "other", id: "p1"),
                                                Self.publish("b", "same batch", id: "p1")])
            #expect(again.map(\.duplicate) == [true, false, true])
            #expect(Self.offsets(again) == [2, 1, 1])
            #expect(try await store.state(of: "a").position.offset == 2)
            #expect(try await store.publications(of: "a", after: 1, limit: 10).map(\.message.text) == ["first"])
            #expect(try await store.publications(of: "b", after: 0, limit: 10).map(\.message.text) == ["other"])
            clock.advance(seconds: 2)
            let late = try await store.append([Self.publish("a", "late", id: "p1")])
            #expect(late.map(\.duplicate) == [false])
            #expect(Self.offsets(late) == [3])
            // Remembered anew from its second storing.
            clock.advance(seconds: 30)
            try await store.trim()
            #expect(try await store.append([Self.publish("a", "retry", id: "p1")]).map(\.duplicate) == [true])
        }
    }

    @Test("publish ids are compared whole, NUL and all", arguments: Engine.allCases)
    func idsWithNUL(engine: Engine) async throws {
        try await Self.withStore(engine) { store in
            let receipts = try await store.append([Self.publish("a", "1", id: "x\u{0}1"), Self.publish("a", "2", id: "x\u{0}2")])
            #expect(receipts.map(\.duplicate) == [false, false])
            let again = try await store.append([Self.publish("a", "1", id: "x\u{0}1"), Self.publish("a", "3", id: "x")])
            #expect(again.map(\.duplicate) == [true, false])
            #expect(Self.offsets(again) == [1, 3])
        }
    }

    @Test("the history keeps the newest maxMessages of each channel", arguments: Engine.allCases)
    func trimByCount(engine: Engine) async throws {
        try await Self.withStore(engine, limits: .init(maxMessages: 3)) { store in
            _ = try await store.append([Self.publish("a", "1"), Self.publish("a", "2"), Self.publish("b", "1")])
            _ = try await store.append((3...5).map { Self.publish("a", "\($0)") })
            let state = try await store.state(of: "a")
            #expect(state.position.offset == 5)
            #expect(state.oldestRetained == 3)
            #expect(try await Self.offsets(of: store, "a") == [3, 4, 5])
            #expect(try await Self.offsets(of: store, "a", after: 3) == [4, 5])
            #expect(try await store.state(of: "b").oldestRetained == 1)
            #expect(try await Self.offsets(of: store, "b") == [1])
        }
    }

    @Test("trim drops what is older than maxAge; offsets go on from the top", arguments: Engine.allCases)
    func trimByAge(engine: Engine) async throws {
        let clock = Clock()
        try await Self.withStore(engine, limits: .init(maxAge: .seconds(60)), clock: clock) { store in
            _ = try await store.append([Self.publish("a", "1"), Self.publish("a", "2")])
            clock.advance(seconds: 30)
            _ = try await store.append([Self.publish("a", "3")])
            clock.advance(seconds: 31)
            try await store.trim()
            #expect(try await store.state(of: "a").oldestRetained == 3)
            #expect(try await Self.offsets(of: store, "a") == [3])
            clock.advance(seconds: 60)
            try await store.trim()
            let emptied = try await store.state(of: "a")
            #expect(emptied.position.offset == 3)
            #expect(emptied.oldestRetained == 4)
            #expect(try await Self.offsets(of: store, "a").isEmpty)
            #expect(Self.offsets(try await store.append([Self.publish("a", "4")])) == [4])
        }
    }

    @Test("publications(after:limit:) pages through the history", arguments: Engine.allCases)
    func paging(engine: Engine) async throws {
        try await Self.withStore(engine) { store in
            _ = try await store.append((1...10).map { Self.publish("p", "\($0)") })
            #expect(try await Self.offsets(of: store, "p", after: 0, limit: 4) == [1, 2, 3, 4])
            #expect(try await Self.offsets(of: store, "p", after: 4, limit: 4) == [5, 6, 7, 8])
            #expect(try await Self.offsets(of: store, "p", after: 8, limit: 4) == [9, 10])
            #expect(try await Self.offsets(of: store, "p", after: 10, limit: 4).isEmpty)
            #expect(try await Self.offsets(of: store, "p", after: 0, limit: 0).isEmpty)
            #expect(try await Self.offsets(of: store, "unknown", after: 0, limit: 4).isEmpty)
        }
    }

    @Test("a batch over maxChannels is refused whole", arguments: Engine.allCases)
    func maxChannels(engine: Engine) async throws {
        try await Self.withStore(engine, limits: .init(maxChannels: 2)) { store in
            _ = try await store.append([Self.publish("a", "1")])
            await #expect(throws: ChannelStoreError.tooManyChannels(limit: 2)) {
                try await store.append([Self.publish("a", "2"), Self.publish("b", "1"), Self.publish("c", "1")])
            }
            #expect(try await store.state(of: "a").position.offset == 1)
            #expect(try await store.state(of: "b").position.offset == 0)
            #expect(try await Self.offsets(of: store, "a") == [1])
            // The refused batch left the store usable and its channels uncounted.
            #expect(Self.offsets(try await store.append([Self.publish("a", "2"), Self.publish("b", "1")])) == [2, 1])
        }
    }

    @Test("reads while batches are appended see whole batches only", arguments: Engine.allCases)
    func readsSeeWholeBatches(engine: Engine) async throws {
        let batch = 50
        try await Self.withStore(engine) { store in
            let tops = try await withThrowingTaskGroup(of: [UInt64].self) { group in
                group.addTask {
                    for round in 0..<20 {
                        _ = try await store.append((0..<batch).map { Self.publish("w", "\(round).\($0)") })
                    }
                    return []
                }
                group.addTask {
                    var seen: [UInt64] = []
                    while seen.last != UInt64(20 * batch) {
                        try Task.checkCancellation()
                        seen.append(try await store.state(of: "w").position.offset)
                        seen.append(UInt64(try await store.publications(of: "w", after: 0, limit: 2_000).count))
                    }
                    return seen
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(tops.allSatisfy { $0 % UInt64(batch) == 0 })
        }
    }

    @Test("an unknown channel stands at 0, its history from 1, in the store's epoch", arguments: Engine.allCases)
    func unknownChannel(engine: Engine) async throws {
        try await Self.withStore(engine) { store in
            let receipt = try await store.append([Self.publish("known", "1")])
            let state = try await store.state(of: "unknown")
            #expect(state == ChannelStreamState(position: .init(epoch: receipt[0].position.epoch, offset: 0),
                                                oldestRetained: 1))
            #expect(!state.position.epoch.isEmpty)
        }
    }

    @Test func inMemoryStoresHaveTheirOwnEpochs() async throws {
        let first = try await InMemoryChannelStore().state(of: "a").position.epoch
        let second = try await InMemoryChannelStore().state(of: "a").position.epoch
        #expect(first != second)
    }

    // MARK: - SQLite

    @Test func sqliteReopenedKeepsEpochOffsetsHistoryAndIDs() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = Clock()
        let (epoch, before) = try await Self.withSQLite(in: directory, clock: clock) { store in
            _ = try await store.append([Self.publish("a", "1"), Self.publish("a", "2", id: "p"),
                                        Self.publish("b", "1")])
            return (store.epoch, try await store.state(of: "a"))
        }
        try await Self.withSQLite(in: directory, clock: clock) { store in
            #expect(store.epoch == epoch)
            #expect(try await store.state(of: "a") == before)
            #expect(try await store.publications(of: "a", after: 0, limit: 10).map(\.message.text) == ["1", "2"])
            let receipts = try await store.append([Self.publish("a", "2", id: "p"), Self.publish("a", "3")])
            #expect(receipts.map(\.duplicate) == [true, false])
            #expect(Self.offsets(receipts) == [2, 3])
        }
    }

    @Test func sqliteEmptyDatabaseKeepsItsEpochWhenReopened() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A subscriber to an empty channel holds (epoch, 0): a restart must not change the epoch.
        let epoch = try await Self.withSQLite(in: directory) { store in try await store.state(of: "a").position.epoch }
        try await Self.withSQLite(in: directory) { store async throws in
            #expect(try await store.state(of: "a").position == StreamPosition(epoch: epoch, offset: 0))
        }
    }

    @Test func sqliteDeletedDatabaseStartsANewEpoch() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let epoch = try await Self.withSQLite(in: directory) { store in
            _ = try await store.append([Self.publish("a", "1")])
            return store.epoch
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
        try await Self.withSQLite(in: directory) { store async throws in
            #expect(store.epoch != epoch)
            #expect(try await store.state(of: "a") == ChannelStreamState(position: .init(epoch: store.epoch, offset: 0),
                                                                         oldestRetained: 1))
        }
    }

    @Test func sqliteRefusedBatchIsRolledBackOnDisk() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let limits = ChannelHistoryLimits(maxChannels: 1)
        try await Self.withSQLite(in: directory, limits: limits) { store in
            _ = try await store.append([Self.publish("a", "1")])
            await #expect(throws: ChannelStoreError.tooManyChannels(limit: 1)) {
                try await store.append([Self.publish("a", "2", id: "q"), Self.publish("b", "1")])
            }
            // The transaction was ended: the next batch commits, and the refused one left no id behind.
            #expect(try await store.append([Self.publish("a", "2", id: "q")]).map(\.duplicate) == [false])
        }
        try await Self.withSQLite(in: directory, limits: limits) { store async throws in
            #expect(try await store.state(of: "a").position.offset == 2)
            #expect(try await store.state(of: "b").position.offset == 0)
            #expect(try await store.publications(of: "a", after: 0, limit: 10).map(\.message.text) == ["1", "2"])
        }
    }
}

@Suite struct InMemoryChannelStoreBytesTests {
    @Test func theOldestPublicationsOfAnyChannelGoFirstPastTheByteLimit() async throws {
        let store = InMemoryChannelStore(limits: .init(maxBytes: 1000))
        let payload = [UInt8](repeating: 7, count: 100)
        // 30 publications of 100 bytes, round-robin over three channels: 3,000 bytes offered.
        for round in 0..<10 {
            let channels: [ChannelName] = ["a", "b", "c"]
            _ = try await store.append(channels.map { ChannelPublishRequest(channel: $0, id: "\($0)-\(round)", message: .binary(payload)) })
        }
        var kept = 0
        for channel: ChannelName in ["a", "b", "c"] {
            let state = try await store.state(of: channel)
            #expect(state.position.offset == 10)
            let publications = try await store.publications(of: channel, after: 0, limit: 100)
            #expect(publications.first?.offset == state.oldestRetained)
            #expect(publications.last?.offset == 10, "the newest is kept")
            kept += publications.count
        }
        #expect(kept * 100 <= 1000)
        #expect(kept * 100 >= 900 - 300, "evicted down to nine tenths, a round at a time")
        // Ids outlive the history they named: a retry is still recognised.
        let retry = try await store.append([ChannelPublishRequest(channel: "a", id: "a-0", message: .binary(payload))])
        #expect(retry.first?.duplicate == true)
        #expect(retry.first?.position.offset == 1)
    }
}
