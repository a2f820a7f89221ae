import Foundation
import Holdfast
import HoldfastTestSupport
import NIOCore
import Testing

/// Two `holdfast serve` nodes behind nginx (the cluster's configuration,
/// `scripts/nginx-cluster.conf.template`): messages go through intact both ways, a node that
/// restarts sends its client a 1001 that reaches it through nginx and the client comes back
/// through nginx on the other node, a stopped node's refused connect goes to the next node, and
/// what the nodes announce in the 101 reaches the client. One test at a time: each starts three
/// processes (two nodes and nginx), which all at once weigh on the tests running beside them.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct NginxClusterTests {
    /// Limits other than the defaults, so that the headers seen through nginx are the nodes'.
    static let maxMessageSize = 2 << 20
    static let maxFrameSize = 64 << 10
    static let nodeArguments = ["--max-message-size", String(maxMessageSize), "--max-frame-size", String(maxFrameSize)]

    /// Starts two echo nodes and nginx in front of them for the duration of `body`; stops nginx,
    /// then each node still running (SIGTERM, by PID).
    static func withCluster<Result: Sendable>(_ body: ([ServeProcess], NginxServer) async throws -> Result) async throws -> Result {
        var nodes: [ServeProcess] = []
        defer { for node in nodes { node.stop(signal: SIGTERM) } }
        for _ in 0..<2 { nodes.append(try await ServeProcess.start(nodeArguments)) }
        let started = nodes
        return try await NginxServer.with(upstreams: started.map(\.port)) { nginx in try await body(started, nginx) }
    }

    static func clientConfiguration() -> WebSocketClientConfiguration {
        WebSocketClientConfiguration(webSocket: testWebSocketConfiguration(maxMessageSize: maxMessageSize),
                                     connectTimeout: .seconds(5))
    }

    /// Each node's open WebSocket connections (its status page's own are not counted).
    static func connections(_ nodes: [ServeProcess]) async throws -> [Int] {
        var counts: [Int] = []
        for node in nodes {
            struct Status: Decodable { let connections: Int }
            let response = try await node.get("/status.json")
            counts.append(try JSONDecoder().decode(Status.self, from: Data(response.body.utf8)).connections)
        }
        return counts
    }

    /// Waits (at most 10 s) until the nodes' connection counts are `expected`.
    static func waitForConnections(_ nodes: [ServeProcess], _ expected: [Int]) async throws {
        try await withTimeout("the nodes' connections to be \(expected)") {
            while try await connections(nodes) != expected { try await Task.sleep(for: .milliseconds(20)) }
        }
    }

    @Test("through nginx, each node echoes text and a 1 MiB binary message intact; round robin gives one client to each")
    func echoesThroughNginx() async throws {
        var random = SeededRandomNumberGenerator(seed: 16)
        let bytes = (0..<(1 << 20)).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        try await Self.withCluster { nodes, nginx in
            try await WebSocketClient.connect(to: nginx.url("/echo"), configuration: Self.clientConfiguration(),
                                              logger: silentLogger) { first in
                try await WebSocketClient.connect(to: nginx.url("/echo"), configuration: Self.clientConfiguration(),
                                                  logger: silentLogger) { second in
                    // nginx's round robin put one client on each node.
                    try await Self.waitForConnections(nodes, [1, 1])
                    for (index, ws) in [first, second].enumerated() {
                        var replies = ws.messages.makeAsyncIterator()
                        try await ws.send(text: "hello from client \(index) through nginx")
                        #expect(await replies.next() == .text("hello from client \(index) through nginx"))
                        try await ws.send(.binary(bytes))
                        let echoed = try #require(await replies.next(), "the 1 MiB echo")
                        #expect(echoed.kind == .binary)
                        #expect(echoed.data.readableBytes == bytes.count)
                        #expect(echoed.data == ByteBuffer(bytes: bytes))
                    }
                }
            }
        }
    }

    @Test("a node stopped with SIGTERM: its client gets the 1001 through nginx and reconnects through nginx to the other node")
    func reconnectsToTheOtherNode() async throws {
        try await Self.withCluster { nodes, nginx in
            let policy = ReconnectPolicy(initialDelay: .milliseconds(100), serverRestartInitialDelay: .milliseconds(300),
                                         maximumDelay: .seconds(1))
            let ws = ReconnectingWebSocket(url: nginx.url("/echo"),
                                           configuration: .init(client: Self.clientConfiguration(), policy: policy),
                                           logger: silentLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask { try await ws.run() }
                var replies = ws.messages.makeAsyncIterator()
                #expect(try await ReconnectTests.nextEvent(ws) == .connecting(attempt: 0))
                #expect(try await ReconnectTests.nextEvent(ws) == .connected)
                try await ws.send(text: "before")
                #expect(await replies.next() == .text("before"))

                // Which node nginx chose: the one that counts the connection.
                let counts = try await withTimeout("the connection to be counted") {
                    var counts = try await Self.connections(nodes)
                    while counts.reduce(0, +) != 1 {
                        try await Task.sleep(for: .milliseconds(20))
                        counts = try await Self.connections(nodes)
                    }
                    return counts
                }
                let serving = try #require(counts.firstIndex(of: 1))
                let remaining = 1 - serving

                #expect(nodes[serving].stop(signal: SIGTERM) == 0, "a graceful shutdown exits 0")
                let disconnected = try await ReconnectTests.nextEvent(ws)
                let outcome = try #require(ReconnectTests.closeOutcome(of: disconnected), "\(disconnected)")
                #expect(outcome.code == .goingAway)
                #expect(outcome.reason == "server shutting down")
                #expect(outcome.wasClean)

                // Backoff, then a connect through nginx, which passes it to the node still up
                // (the stopped one refuses, and nginx tries the next).
                let events = try await withTimeout("the client to connect again") {
                    var events: [ReconnectEvent] = []
                    while events.last != .connected { events.append(try await ReconnectTests.nextEvent(ws)) }
                    return events
                }
                #expect(events.count == 3, "waiting, connecting, connected at the first attempt: \(events)")
                #expect(events.dropLast().last == .connecting(attempt: 1))
                try await Self.waitForConnections([nodes[remaining]], [1])

                try await ws.send(text: "after")
                #expect(await replies.next() == .text("after"))
                ws.close()
            }
        }
    }

    @Test("a stopped node refuses the connect and nginx passes it to the next: every client gets the node still up")
    func stoppedNodeIsPassedOver() async throws {
        try await Self.withCluster { nodes, nginx in
            #expect(nodes[0].stop(signal: SIGTERM) == 0)
            // Round robin offers the stopped node one of any two connects in a row.
            for index in 0..<4 {
                try await WebSocketClient.connect(to: nginx.url("/echo"), configuration: Self.clientConfiguration(),
                                                  logger: silentLogger) { ws in
                    var replies = ws.messages.makeAsyncIterator()
                    try await ws.send(text: "connect \(index)")
                    #expect(await replies.next() == .text("connect \(index)"))
                }
            }
            struct Status: Decodable { let totalConnections: Int }
            let response = try await nodes[1].get("/status.json")
            #expect(try JSONDecoder().decode(Status.self, from: Data(response.body.utf8)).totalConnections == 4)
        }
    }

    @Test("the limits a node announces in its 101 (Holdfast-Max-*) and permessage-deflate reach the client through nginx")
    func limitHeadersPassThrough() async throws {
        try await Self.withCluster { nodes, nginx in
            let direct = try await WebSocketClient.connect(to: nodes[0].url("/"), configuration: Self.clientConfiguration(),
                                                           logger: silentLogger) { ws in
                (ws.responseHeaders[AnnouncedLimits.maxMessageSizeHeader], ws.responseHeaders[AnnouncedLimits.maxFrameSizeHeader],
                 ws.compression)
            }
            #expect(direct.0 == [String(Self.maxMessageSize)])
            #expect(direct.1 == [String(Self.maxFrameSize)])
            try await WebSocketClient.connect(to: nginx.url("/"), configuration: Self.clientConfiguration(),
                                              logger: silentLogger) { ws in
                #expect(ws.responseHeaders[AnnouncedLimits.maxMessageSizeHeader] == direct.0)
                #expect(ws.responseHeaders[AnnouncedLimits.maxFrameSizeHeader] == direct.1)
                #expect(ws.peerLimits == AnnouncedLimits(maxMessageSize: Self.maxMessageSize, maxFrameSize: Self.maxFrameSize))
                #expect(ws.compression != nil)
                #expect(ws.compression == direct.2)
            }
        }
    }
}
