import Foundation
import Holdfast
import HoldfastChannels
import HoldfastTestSupport
import NIOConcurrencyHelpers
import Testing

/// `holdfast serve --mode channels` restarted under 50 subscribers and 5 publishers: with the
/// SQLite store, gracefully (1001) twice and killed (1006) once, every subscriber ends with every
/// acknowledged message exactly once, in order; with the in-memory store, a restart is a gap.
@Suite("Channels across server restarts — nothing acknowledged is lost", .serialized, .timeLimit(.minutes(3)))
struct ChannelRestartTests {
    static let channels: [ChannelName] = (1...5).map { ChannelName(stringLiteral: "channel-\($0)") }

    /// Backoff short enough for a test, long enough not to spin while the server is down.
    static func client(port: Int) -> ChannelClient {
        client(url: "ws://127.0.0.1:\(port)/")
    }

    /// A client of the server at `url` with that backoff.
    static func client(url: String) -> ChannelClient {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(50), serverRestartInitialDelay: .milliseconds(200),
                                     maximumDelay: .milliseconds(500))
        let connection = ReconnectingWebSocketConfiguration(client: .init(webSocket: testWebSocketConfiguration()),
                                                            policy: policy)
        return ChannelClient(url: url, configuration: .init(connection: connection), logger: silentLogger)
    }

    /// Starts the server on `port`, retrying while the old socket lets go of it.
    static func restart(_ arguments: [String], port: Int) async throws -> ServeProcess {
        var lastError: (any Error)?
        for _ in 0..<20 {
            do { return try await ServeProcess.start(arguments, port: port) } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw lastError ?? ServeProcess.Failed(description: "the server did not restart")
    }

    @Test("SQLite store: two SIGTERMs and a SIGKILL under steady publishing; every subscriber gets every acknowledged message once, in order, with no gap")
    func diskStoreLosesNothing() async throws {
        try await withTemporaryDirectory { directory in
            let arguments = ["--mode", "channels", "--history-dir", directory, "--drain-timeout", "2"]
            var server = try await ServeProcess.start(arguments)
            let port = server.port
            let log = DeliveryLog()
            let keepPublishing = NIOLockedValueBox(true)
            try await withThrowingTaskGroup(of: Void.self) { group in
                // 50 subscribers, 10 on each channel.
                var subscribers: [ChannelClient] = []
                for index in 0..<50 {
                    let client = Self.client(port: port)
                    subscribers.append(client)
                    let channel = Self.channels[index % Self.channels.count]
                    let subscription = try client.subscribe(channel)
                    group.addTask { try? await client.run() }
                    group.addTask {
                        for try await event in subscription { log.record(event, subscriber: index) }
                    }
                }
                // Every subscription must be in place before the first publish, so that each
                // subscriber's stream starts at offset 1.
                let first = server
                try await withTimeout("50 subscriptions", limit: .seconds(30)) {
                    while try await first.channelSubscriptions() < 50 { try await Task.sleep(for: .milliseconds(50)) }
                }
                // One publisher per channel, each publish awaiting its acknowledgement.
                var publishers: [ChannelClient] = []
                var publishing: [Task<Void, any Error>] = []
                for channel in Self.channels {
                    let client = Self.client(port: port)
                    publishers.append(client)
                    group.addTask { try? await client.run() }
                    publishing.append(log.publishSteadily(client, to: channel, pause: .milliseconds(20), while: keepPublishing))
                }
                // Each server, the first and every restarted one, acknowledges at least 5 publishes
                // on every channel before it is stopped: publishing goes on throughout.
                try await log.waitForAcknowledgements(5, on: Self.channels)
                for signal in [SIGTERM, SIGTERM, SIGKILL] {
                    server.stop(signal: signal)
                    try await Task.sleep(for: .milliseconds(300))
                    server = try await Self.restart(arguments, port: port)
                    try await log.waitForAcknowledgements(5, on: Self.channels)
                }
                keepPublishing.withLockedValue { $0 = false }
                // The publishes in flight are acknowledged before the count is taken.
                for task in publishing { try await task.value }
                // Every subscriber catches up with the last acknowledged offset of its channel.
                try await withTimeout("every subscriber to catch up", limit: .seconds(60)) {
                    while !log.caughtUp(subscribers: 50, channels: Self.channels) { try await Task.sleep(for: .milliseconds(100)) }
                }
                for client in subscribers + publishers { client.close() }
                group.cancelAll()
            }
            server.stop(signal: SIGTERM)
            let report = log.verify(subscribers: 50, channels: Self.channels)
            #expect(report.failures.isEmpty, "\(report.failures.prefix(5))")
            #expect(report.gaps == 0)
        }
    }

    @Test("in-memory store: after a restart the subscriber gets a gap with the new epoch, then the new stream")
    func memoryStoreRestartIsAGap() async throws {
        let arguments = ["--mode", "channels", "--drain-timeout", "2"]
        var server = try await ServeProcess.start(arguments)
        let port = server.port
        let log = DeliveryLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            let subscriber = Self.client(port: port)
            let publisher = Self.client(port: port)
            let subscription = try subscriber.subscribe("news")
            group.addTask { try? await subscriber.run() }
            group.addTask { try? await publisher.run() }
            group.addTask { for try await event in subscription { log.record(event, subscriber: 0) } }
            let first = server
            try await withTimeout("the subscription", limit: .seconds(30)) {
                while try await first.channelSubscriptions() < 1 { try await Task.sleep(for: .milliseconds(50)) }
            }
            let before = try await publisher.publish(.text("before"), to: "news")
            server.stop(signal: SIGTERM)
            server = try await Self.restart(arguments, port: port)
            let after = try await publisher.publish(.text("after"), to: "news")
            #expect(after.position.epoch != before.position.epoch)
            try await withTimeout("the new stream's publication", limit: .seconds(30)) {
                while log.events(of: 0).count < 3 { try await Task.sleep(for: .milliseconds(50)) }
            }
            let events = log.events(of: 0)
            #expect(events.first == .publication(ChannelPublication(channel: "news", position: before.position, message: .text("before"))))
            guard case .gap(let gap) = events.dropFirst().first else {
                Issue.record("expected a gap after the restart, got \(events)")
                return
            }
            #expect(gap.lastDelivered == before.position)
            #expect(gap.resumesAt.epoch == after.position.epoch)
            #expect(events.last == .publication(ChannelPublication(channel: "news", position: after.position, message: .text("after"))))
            subscriber.close()
            publisher.close()
            group.cancelAll()
        }
        server.stop(signal: SIGTERM)
    }
}

extension ServeProcess {
    /// The subscriptions the server holds now, from `/status.json`.
    func channelSubscriptions() async throws -> Int {
        struct Status: Decodable {
            struct Channels: Decodable {
                struct Statistics: Decodable { let subscriptions: Int }
                let statistics: Statistics
            }
            let channels: Channels?
        }
        let response = try await get("/status.json")
        return try JSONDecoder().decode(Status.self, from: Data(response.body.utf8)).channels?.statistics.subscriptions ?? 0
    }
}

/// What every subscriber received and what every publish was acknowledged with, checked at the end.
final class DeliveryLog: Sendable {
    private struct State {
        var received: [Int: [SubscriptionEvent]] = [:]
        var acknowledged: [ChannelName: [UInt64: String]] = [:]
        var epochs: [ChannelName: String] = [:]
    }

    private let state = NIOLockedValueBox(State())

    func record(_ event: SubscriptionEvent, subscriber: Int) {
        state.withLockedValue { $0.received[subscriber, default: []].append(event) }
    }

    func acknowledged(_ ack: ChannelPublishAck, text: String) {
        state.withLockedValue { state in
            state.acknowledged[ack.channel, default: [:]][ack.position.offset] = text
            state.epochs[ack.channel] = ack.position.epoch
        }
    }

    /// Waits until every channel of `channels` has `count` more acknowledged publishes than now.
    func waitForAcknowledgements(_ count: Int, on channels: [ChannelName]) async throws {
        let counts: @Sendable () -> [Int] = { self.state.withLockedValue { state in channels.map { state.acknowledged[$0]?.count ?? 0 } } }
        let start = counts()
        try await withTimeout("\(count) acknowledgements on every channel", limit: .seconds(60)) {
            while zip(counts(), start).contains(where: { $0 < $1 + count }) { try await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// Publishes `CHANNEL#1`, `CHANNEL#2`… to `channel` through `client`, each after the last one's
    /// acknowledgement and a `pause`, while `keepGoing` holds; records every acknowledgement.
    func publishSteadily(_ client: ChannelClient, to channel: ChannelName, pause: Duration,
                         while keepGoing: NIOLockedValueBox<Bool>) -> Task<Void, any Error> {
        Task {
            var sequence = 0
            while keepGoing.withLockedValue({ $0 }) {
                sequence += 1
                let text = "\(channel)#\(sequence)"
                acknowledged(try await client.publish(.text(text), to: channel), text: text)
                try await Task.sleep(for: pause)
            }
        }
    }

    func events(of subscriber: Int) -> [SubscriptionEvent] { state.withLockedValue { $0.received[subscriber] ?? [] } }

    /// Whether every subscriber has received the last acknowledged offset of its channel.
    func caughtUp(subscribers: Int, channels: [ChannelName]) -> Bool {
        state.withLockedValue { state in
            (0..<subscribers).allSatisfy { index in
                let channel = channels[index % channels.count]
                guard let last = state.acknowledged[channel]?.keys.max() else { return true }
                return state.received[index]?.contains { event in
                    if case .publication(let publication) = event { return publication.offset >= last }
                    return false
                } ?? false
            }
        }
    }

    struct Report {
        var failures: [String] = []
        var gaps = 0
        var acknowledged = 0
    }

    /// Each subscriber's publications are offsets 1, 2, 3… with nothing missing or repeated, and
    /// each acknowledged offset carries the text that was published.
    func verify(subscribers: Int, channels: [ChannelName]) -> Report {
        state.withLockedValue { state in
            var report = Report()
            report.acknowledged = state.acknowledged.values.reduce(0) { $0 + $1.count }
            for index in 0..<subscribers {
                let channel = channels[index % channels.count]
                var expected: UInt64 = 1
                for event in state.received[index] ?? [] {
                    switch event {
                    case .gap(let gap):
                        report.gaps += 1
                        report.failures.append("subscriber \(index): \(gap)")
                    case .publication(let publication):
                        if publication.offset != expected {
                            report.failures.append("subscriber \(index): offset \(publication.offset) where \(expected) was due")
                        }
                        if let text = state.acknowledged[channel]?[publication.offset], publication.message != .text(text) {
                            report.failures.append("subscriber \(index): offset \(publication.offset) is not \(text)")
                        }
                        expected = publication.offset + 1
                    }
                }
                let last = state.acknowledged[channel]?.keys.max() ?? 0
                if expected <= last { report.failures.append("subscriber \(index): ended at \(expected - 1) of \(last)") }
            }
            return report
        }
    }
}
