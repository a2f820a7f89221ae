import Foundation
import Holdfast
import HoldfastChannels
import NIOConcurrencyHelpers
import Testing

/// A cluster as users deploy it: three `holdfast serve --mode channels --store postgres://…`
/// nodes behind nginx, restarted one after another under 200 subscribers and steady publishers,
/// then one killed, then PostgreSQL restarted — and nothing acknowledged is lost.
@Suite("Rolling restart of three nodes behind nginx on PostgreSQL", .serialized, .timeLimit(.minutes(8)))
struct RollingRestartTests {
    static let channels: [ChannelName] = (1...5).map { ChannelName(stringLiteral: "rolling-\($0)") }
    static let subscriberCount = 200

    /// Recoveries seen by the nodes, read from `/status.json` before each one is stopped.
    struct Recoveries: Decodable {
        struct Channels: Decodable {
            struct Statistics: Decodable {
                let recoveries: Int
                let recoveriesFailed: Int
                let subscriptions: Int
            }
            let statistics: Statistics
        }
        let channels: Channels?
    }

    static func recoveries(of node: ServeProcess) async throws -> Recoveries.Channels.Statistics {
        let response = try await node.get("/status.json")
        return try #require(try JSONDecoder().decode(Recoveries.self, from: Data(response.body.utf8)).channels?.statistics)
    }

    /// Waits until the nodes hold a subscription for every subscriber.
    static func waitForSubscriptions(on nodes: [ServeProcess]) async throws {
        try await withTimeout("\(subscriberCount) subscriptions over the nodes", limit: .seconds(60)) {
            while true {
                var total = 0
                for node in nodes { total += try await Self.recoveries(of: node).subscriptions }
                if total >= subscriberCount { return }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    @Test("SIGTERM each node in turn (spread 1001s), SIGKILL one, restart PostgreSQL: every subscriber holds every acknowledged message once, in order, every resubscription recovered")
    func rollingRestartLosesNothing() async throws {
        try await PostgresServer.with { postgres in
            let arguments = ["--mode", "channels", "--store", postgres.url, "--shutdown-spread", "1", "--drain-timeout", "5"]
            var nodes: [ServeProcess] = []
            for _ in 0..<3 { nodes.append(try await ServeProcess.start(arguments)) }
            let ports = nodes.map(\.port)
            let nginx = try await NginxServer.start(upstreams: ports)
            let log = DeliveryLog()
            let keepPublishing = NIOLockedValueBox(true)
            var recoveries = 0
            var recoveriesFailed = 0
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var clients: [ChannelClient] = []
                    for index in 0..<Self.subscriberCount {
                        let client = ChannelRestartTests.client(url: nginx.url())
                        clients.append(client)
                        let subscription = try client.subscribe(Self.channels[index % Self.channels.count])
                        group.addTask { try? await client.run() }
                        group.addTask { for try await event in subscription { log.record(event, subscriber: index) } }
                    }
                    try await Self.waitForSubscriptions(on: nodes)
                    // One publisher per channel through nginx: on whichever node it lands, mostly
                    // not its subscribers' node.
                    var publishing: [Task<Void, any Error>] = []
                    for channel in Self.channels {
                        let client = ChannelRestartTests.client(url: nginx.url())
                        clients.append(client)
                        group.addTask { try? await client.run() }
                        publishing.append(log.publishSteadily(client, to: channel, pause: .milliseconds(25), while: keepPublishing))
                    }
                    try await log.waitForAcknowledgements(5, on: Self.channels)
                    // A rolling restart: each node in turn, gracefully, on the same port.
                    for index in nodes.indices {
                        let seen = try await Self.recoveries(of: nodes[index])
                        recoveries += seen.recoveries
                        recoveriesFailed += seen.recoveriesFailed
                        nodes[index].stop(signal: SIGTERM)
                        nodes[index] = try await ChannelRestartTests.restart(arguments, port: ports[index])
                        // As a deploy does: the next node goes once every client is back.
                        try await Self.waitForSubscriptions(on: nodes)
                        try await log.waitForAcknowledgements(5, on: Self.channels)
                    }
                    // A crash.
                    nodes[1].stop(signal: SIGKILL)
                    nodes[1] = try await ChannelRestartTests.restart(arguments, port: ports[1])
                    try await Self.waitForSubscriptions(on: nodes)
                    try await log.waitForAcknowledgements(5, on: Self.channels)
                    // The database goes away and comes back: publishes wait in the outboxes.
                    try await postgres.restart()
                    try await log.waitForAcknowledgements(5, on: Self.channels)

                    keepPublishing.withLockedValue { $0 = false }
                    for task in publishing { try await task.value }
                    try await withTimeout("every subscriber to catch up", limit: .seconds(90)) {
                        while !log.caughtUp(subscribers: Self.subscriberCount, channels: Self.channels) {
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                    for node in nodes {
                        let seen = try await Self.recoveries(of: node)
                        recoveries += seen.recoveries
                        recoveriesFailed += seen.recoveriesFailed
                    }
                    for client in clients { client.close() }
                    group.cancelAll()
                }
            } catch {
                for node in nodes { node.stop(signal: SIGTERM) }
                await nginx.stop()
                throw error
            }
            for node in nodes { node.stop(signal: SIGTERM) }
            await nginx.stop()

            let report = log.verify(subscribers: Self.subscriberCount, channels: Self.channels)
            #expect(report.failures.isEmpty, "\(report.failures.prefix(5))")
            #expect(report.gaps == 0)
            #expect(report.acknowledged >= 5 * 5 * 6)
            // Subscribers came back through nginx and resumed: each graceful stop moved the
            // stopped node's subscribers (about a third of 200), none unrecovered.
            #expect(recoveries >= Self.subscriberCount / 2)
            #expect(recoveriesFailed == 0)
        }
    }
}
