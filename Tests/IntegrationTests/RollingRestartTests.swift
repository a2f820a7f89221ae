import Foundation
import Holdfast
import HoldfastChannels
import HoldfastTestSupport
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

    /// Stops the nodes (SIGTERM) and nginx, by their PIDs.
    static func stop(_ nodes: [ServeProcess], _ nginx: NginxServer) async {
        for node in nodes { node.stop(signal: SIGTERM) }
        await nginx.stop()
    }

    /// The WebSocket connections `node` holds now, from `/status.json`.
    static func connections(of node: ServeProcess) async throws -> Int {
        struct Status: Decodable { let connections: Int }
        return try JSONDecoder().decode(Status.self, from: Data(try await node.get("/status.json").body.utf8)).connections
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
                await Self.stop(nodes, nginx)
                throw error
            }
            await Self.stop(nodes, nginx)

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

    @Test("a 64 MiB holdfast send through nginx across the same rolling restart, a SIGKILL and a PostgreSQL restart: verified digest, at most one window sent again per interruption")
    func transferAcrossRollingRestart() async throws {
        try await PostgresServer.with { postgres in
            try await withTemporaryDirectory { directory in
                let size = 64 << 20
                let window = 4 << 20
                let digest = ClusterTransferTests.writeSeededFile(directory + "/big.bin", size: size)
                // 16 KiB messages: 4,096 chunks, each a transaction, so the send outlasts the restarts.
                let arguments = { (index: Int) in
                    ["--mode", "files", "--files-dir", directory + "/node-\(index)", "--store", postgres.url,
                     "--max-message-size", "16384", "--shutdown-spread", "1", "--drain-timeout", "5"]
                }
                var nodes: [ServeProcess] = []
                for index in 0..<3 { nodes.append(try await ServeProcess.start(arguments(index))) }
                let ports = nodes.map(\.port)
                let nginx = try await NginxServer.start(upstreams: ports)
                var interruptionsBeforeTheEnd = 0
                do {
                    async let sending = HoldfastTool.run(["send", nginx.url(), directory + "/big.bin", "--window", String(window),
                                                          "--max-attempts", "50"], limit: .seconds(240))
                    // Each step once the transfer has moved on since the last: every node in turn
                    // gracefully, one killed, then the database.
                    var held = try await ClusterTransferTests.waitUntilHeld(atLeast: 1, in: postgres)
                    for step in 0..<5 {
                        held = try await ClusterTransferTests.waitUntilHeld(atLeast: held + size / 20, in: postgres)
                        guard held < size else { break }
                        interruptionsBeforeTheEnd += 1
                        switch step {
                        case 0, 1, 2:
                            nodes[step].stop(signal: SIGTERM)
                            nodes[step] = try await ChannelRestartTests.restart(arguments(step), port: ports[step])
                        case 3:
                            // The kill goes to the node the sender is on.
                            var target = 0
                            for (index, node) in nodes.enumerated() where try await Self.connections(of: node) > 0 { target = index }
                            nodes[target].stop(signal: SIGKILL)
                            nodes[target] = try await ChannelRestartTests.restart(arguments(target), port: ports[target])
                        default:
                            try await postgres.restart()
                        }
                    }
                    let run = try await sending
                    #expect(run.status == 0, "\(run.stderr)")
                    #expect(run.stdout == "sent big.bin: \(size) bytes, sha256 \(digest), confirmed by the receiver\n")
                    // Exactly one node wrote the file, whole.
                    let written = (0..<3).filter { FileManager.default.fileExists(atPath: directory + "/node-\($0)/big.bin") }
                    #expect(written.count == 1)
                    if let node = written.first {
                        #expect(try await digestOfFile(directory + "/node-\(node)/big.bin") == digest)
                    }
                    // The report: "… N bytes on the wire, R sent again; chunk size C; S connection(s)".
                    let report = try #require(run.stderr.split(separator: "\n").last { $0.contains("connection(s)") }.map(String.init),
                                              "\(run.stderr)")
                    let resent = try #require(ClusterTransferTests.number(in: report, after: "bytes on the wire, "), "\(report)")
                    let sessions = try #require(report.split(separator: " ").dropLast().last.flatMap { Int($0) }, "\(report)")
                    // Each interruption (a graceful stop, the kill, the database restart) cost the
                    // sender at most one window; the kill and at least one stop reached it.
                    #expect(sessions >= 3, "\(run.stderr)")
                    #expect(resent <= (sessions - 1) * window, "\(run.stderr)")
                    #expect(interruptionsBeforeTheEnd == 5, "the send ended before every restart: make it slower")
                    print("rolling transfer: \(run.stderr.split(separator: "\n").suffix(2).joined(separator: " | "))")
                } catch {
                    await Self.stop(nodes, nginx)
                    throw error
                }
                await Self.stop(nodes, nginx)
            }
        }
    }
}
