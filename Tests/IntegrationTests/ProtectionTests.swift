import Holdfast
import HoldfastTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// The server's connection limit over real connections (the other protections are tested byte
/// for byte in `ServerProtectionTests`).
@Suite("maxConnections over loopback", .timeLimit(.minutes(1)))
struct ProtectionTests {
    @Test("with maxConnections 2, a third client gets 503; once the two have ended, a new one is accepted")
    func connectionLimit() async throws {
        var configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration())
        configuration.maxConnections = 2
        // Each connection's handler says when its connection has ended: its close outcome
        // completes after the server has counted the connection as ended.
        let (ended, endedSink) = AsyncStream.makeStream(of: Void.self)
        let handler: @Sendable (WebSocket) async throws -> Void = { ws in
            for await message in ws.messages { try await ws.send(message) }
            _ = await ws.closeOutcome
            endedSink.yield()
        }
        try await withRunningServer(configuration: configuration, handler: handler) { server, port in
            let url = "ws://127.0.0.1:\(port)/"
            try await connect(url) { first in
                try await first.send(text: "one")
                for await _ in first.messages { break }
                try await connect(url) { second in
                    try await second.send(text: "two")
                    for await _ in second.messages { break }
                    let error = await #expect(throws: HandshakeError.self) {
                        try await connect(url) { _ in }
                    }
                    #expect(error?.status == .serviceUnavailable)
                }
            }
            try await first(of: ended, "the first connection's end")
            try await first(of: ended, "the second connection's end")
            #expect(server.statistics.openConnections == 0)
            let echoed = try await connect(url) { third -> WebSocketMessage? in
                try await third.send(text: "three")
                for await message in third.messages { return message }
                return nil
            }
            #expect(echoed == .text("three"))
        }
    }

    @Test("connections that never finish their upgrade hold places too: a third client gets 503 while two sit silent")
    func silentConnectionsCount() async throws {
        var configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration())
        configuration.maxConnections = 2
        try await withRunningServer(configuration: configuration, handler: echo) { server, port in
            let url = "ws://127.0.0.1:\(port)/"
            do {
                // Two TCP connections that send nothing (the handshake timeout is 10 s).
                let silent = [try PlainSocket(port: port), try PlainSocket(port: port)]
                // The server counts a connection once its event loop has taken it: ask until it has.
                var refused: HandshakeError?
                for _ in 0..<50 where refused == nil {
                    do {
                        try await connect(url) { _ in }
                        try await Task.sleep(for: .milliseconds(20))
                    } catch let error as HandshakeError {
                        refused = error
                    }
                }
                #expect(refused?.status == .serviceUnavailable)
                _ = silent
            }
            // The silent ones gone, a client gets in (once the server has seen them close).
            var echoed: WebSocketMessage?
            for _ in 0..<50 where echoed == nil {
                echoed = try? await connect(url) { ws -> WebSocketMessage? in
                    try await ws.send(text: "in")
                    for await message in ws.messages { return message }
                    return nil
                }
                if echoed == nil { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(echoed == .text("in"))
        }
    }
}
