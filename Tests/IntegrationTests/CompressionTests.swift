import Holdfast
import HoldfastCore
import HoldfastTestSupport
import NIOCore
import Testing

/// permessage-deflate over real sockets: negotiated by default between Holdfast ends, declined
/// when turned off, and an inflation bomb refused with 1009 while the server goes on.
@Suite(.timeLimit(.minutes(1)))
struct CompressionTests {
    @Test("Holdfast client and server agree on permessage-deflate by default and messages round-trip")
    func negotiatedByDefault() async throws {
        let (agreed, sink) = AsyncStream.makeStream(of: PerMessageDeflateParameters?.self)
        try await withServer(handler: { ws in
            sink.yield(ws.compression)
            try await echo(ws)
        }) { port in
            try await connect("ws://127.0.0.1:\(port)/") { ws in
                #expect(ws.compression == PerMessageDeflateParameters(ownMaxWindowBits: 12, peerMaxWindowBits: 15))
                #expect(ws.responseHeaders["Sec-WebSocket-Extensions"] == ["permessage-deflate; client_max_window_bits=12"])
                let json = String(repeating: "{\"id\":1,\"status\":\"ok\",\"items\":[1,2,3]}", count: 2000)
                let messages: [WebSocketMessage] = [.text(json), .text("tiny"), .binary(pattern(300_000)), .text(json)]
                for message in messages { try await ws.send(message) }
                var echoed: [WebSocketMessage] = []
                for await message in ws.messages {
                    echoed.append(message)
                    if echoed.count == messages.count { break }
                }
                #expect(echoed == messages)
            }
        }
        let serverSide = try await first(of: agreed, "the server's agreement")
        #expect(serverSide == PerMessageDeflateParameters(ownMaxWindowBits: 12, peerMaxWindowBits: 12))
    }

    @Test("compression: nil on either side means no extension and plain messages")
    func turnedOff() async throws {
        var serverConfiguration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration())
        serverConfiguration.webSocket.compression = nil
        try await withServer(configuration: serverConfiguration, handler: echo) { port in
            try await connect("ws://127.0.0.1:\(port)/") { ws in
                #expect(ws.compression == nil)
                #expect(ws.responseHeaders["Sec-WebSocket-Extensions"] == [])
                try await ws.send(text: String(repeating: "a", count: 1000))
                #expect(await ws.messages.first { _ in true } == .text(String(repeating: "a", count: 1000)))
            }
        }
        try await withServer(handler: echo) { port in
            var configuration = WebSocketClientConfiguration(webSocket: testWebSocketConfiguration())
            configuration.webSocket.compression = nil
            try await WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/", configuration: configuration,
                                              logger: silentLogger) { ws in
                #expect(ws.compression == nil)
                #expect(ws.responseHeaders["Sec-WebSocket-Extensions"] == [])
            }
        }
    }

    @Test("a message of 64 KiB on the wire that inflates to 64 MiB gets 1009 naming the limit; the server goes on")
    func inflationBomb() async throws {
        let limit = 1 << 20
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(maxMessageSize: limit))
        try await withServer(configuration: configuration, handler: echo) { port in
            try await RawConnection.with(port: port) { raw in
                try await raw.write(upgradeRequest(host: "127.0.0.1:\(port)", path: "/raw", extensions: "permessage-deflate"))
                let head = try await raw.readHTTPHead()
                #expect(head.hasPrefix("HTTP/1.1 101 "))
                #expect(head.contains("Sec-WebSocket-Extensions: permessage-deflate\r\n"))
                let bomb = Self.compressedZeros(megabytes: 64)
                #expect(bomb.count < 200_000)
                try await raw.write(bomb)
                let close = try await raw.readSmallFrame()
                #expect(close.firstByte == 0x88)
                var payload = close.payload
                #expect(payload.readInteger(as: UInt16.self) == 1009)
                #expect(payload.readString(length: payload.readableBytes) == "message exceeds limit of \(limit) bytes")
            }
            // The server is unharmed: a new connection echoes a compressed message.
            try await connect("ws://127.0.0.1:\(port)/") { ws in
                let text = String(repeating: "still here ", count: 100)
                try await ws.send(text: text)
                #expect(await ws.messages.first { _ in true } == .text(text))
            }
        }
    }

    /// A binary message of `megabytes` MiB of zeros, compressed and masked as a client sends it,
    /// one fragment per MiB.
    private static func compressedZeros(megabytes: Int) -> [UInt8] {
        var sender = ConnectionStateMachine(role: .client, configuration: .init(), compression: .init())
        let zeros = ByteBuffer(repeating: 0, count: 1 << 20)
        var bytes: [UInt8] = []
        for index in 0..<megabytes {
            sender.encodeFragment(zeros, of: .binary, isFinal: index == megabytes - 1) {
                bytes += Array($0.readableBytesView)
            }
        }
        return bytes
    }
}
