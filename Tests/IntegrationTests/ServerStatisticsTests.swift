import Holdfast
import HoldfastTestSupport
import NIOCore
import Testing

/// ``WebSocketServer/statistics``: what the server counts for both kinds of handler.
@Suite("Server statistics — connections, messages, bytes and closes by code", .timeLimit(.minutes(1)))
struct ServerStatisticsTests {
    /// Echoes on the event loop.
    struct EventLoopEcho: WebSocketEventLoopHandler {
        func received(_ message: WebSocketMessage, on connection: EventLoopWebSocket) {
            try? connection.send(message)
        }
    }

    enum HandlerKind: String, CaseIterable, CustomTestStringConvertible {
        case eventLoop, tasks
        var testDescription: String { rawValue }
    }

    @Test("a known exchange is counted: messages and bytes each way, then closes 1000 and 4001 by code, 4001 a departure",
          arguments: HandlerKind.allCases)
    func knownExchange(kind: HandlerKind) async throws {
        let configuration = WebSocketServerConfiguration(host: "127.0.0.1", port: 0, webSocket: testWebSocketConfiguration())
        let server = switch kind {
        case .eventLoop: WebSocketServer(configuration: configuration, logger: silentLogger, eventLoopHandler: EventLoopEcho())
        case .tasks: WebSocketServer(configuration: configuration, logger: silentLogger, handler: echo)
        }
        #expect(server.statistics == WebSocketServerStatistics())
        let sent: [WebSocketMessage] = [.text("one"), .binary(pattern(300)), .text(""), .binary(pattern(70_000)),
                                        .text("fünf")]
        let bytes = sent.map(\.data.readableBytes).reduce(0, +)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try #require(try await withTimeout("the server to listen") { try await server.listeningAddress }.port)
            let url = "ws://127.0.0.1:\(port)/count"

            let first = try await connect(url) { ws in
                for message in sent { try await ws.send(message) }
                var iterator = ws.messages.makeAsyncIterator()
                for expected in sent { #expect(await iterator.next() == expected) }
                let open = server.statistics
                #expect(open.openConnections == 1)
                #expect(open.totalConnections == 1)
                return await ws.close(code: .normalClosure)
            }
            #expect(first.code == .normalClosure)
            try await waitUntil("the close with 1000 to be counted") { server.statistics.closes[.normalClosure] == 1 }

            let second = try await connect(url) { ws in
                try await ws.send(text: "last")
                var iterator = ws.messages.makeAsyncIterator()
                #expect(await iterator.next() == .text("last"))
                return await ws.close(code: CloseCode(4001), reason: "done")
            }
            #expect(second.code == CloseCode(4001))
            try await waitUntil("the close with 4001 to be counted") { server.statistics.closes[CloseCode(4001)] == 1 }
        }
        let statistics = server.statistics
        #expect(statistics.messagesReceived == sent.count + 1)
        #expect(statistics.messagesSent == sent.count + 1)
        #expect(statistics.bytesReceived == bytes + 4)
        #expect(statistics.bytesSent == bytes + 4)
        #expect(statistics.totalConnections == 2)
        #expect(statistics.openConnections == 0)
        #expect(statistics.closes == [.normalClosure: 1, CloseCode(4001): 1])
        // The client that closed first with 4001 (a page that left) departed; the one with 1000 did not.
        #expect(statistics.departures == 1)
    }
}
