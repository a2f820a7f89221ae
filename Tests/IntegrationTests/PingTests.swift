import Holdfast
import HoldfastTestSupport
import NIOCore
import Testing

/// `WebSocket.ping` returns when the pong for it arrives.
@Suite(.timeLimit(.minutes(1)))
struct PingTests {
    @Test("ping returns once the server's pong arrives; a payload over 125 bytes is refused")
    func pingWaitsForPong() async throws {
        try await withServer(handler: { ws in for await _ in ws.messages {} }) { port in
            try await connect("ws://127.0.0.1:\(port)/") { ws in
                for index in 0..<3 {
                    try await withTimeout("pong \(index)") { try await ws.ping(ByteBuffer(string: "ping \(index)")) }
                }
                let error = await #expect(throws: WebSocketError.self) {
                    try await ws.ping(ByteBuffer(repeating: 0, count: 126))
                }
                #expect(error == .controlPayloadTooLong(126))
            }
        }
    }

    @Test("a ping still waiting when the connection closes fails instead of hanging")
    func pingFailsOnClose() async throws {
        // A raw server that upgrades, then closes TCP without answering anything.
        _ = try await withServer(handler: { ws in ws.abort() }) { port in
            try await connect("ws://127.0.0.1:\(port)/") { ws in
                await #expect(throws: WebSocketError.self) {
                    try await withTimeout("the ping to fail") {
                        for _ in 0..<100 { try await ws.ping() }
                    }
                }
            }
        }
    }
}
