import Holdfast
import HoldfastTestSupport
import NIOCore
import Testing

/// Messages between a Holdfast client and a Holdfast server over loopback.
@Suite(.timeLimit(.minutes(1)))
struct MessageExchangeTests {
    @Test("text, binary and empty messages come back unchanged and in order", arguments: ["127.0.0.1", "::1"])
    func roundTrip(host: String) async throws {
        let sent: [WebSocketMessage] = [
            .text("hello, wörld ✓ 🎉"),
            .binary([0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]),
            .text(""),
            .binary(ByteBuffer()),
            .text(String(repeating: "126+ bytes need the 16-bit length; ", count: 8)),
            .binary(pattern(70_000)),
        ]
        let urlHost = host.contains(":") ? "[\(host)]" : host
        let received = try await withServer(host: host, handler: echo) { port in
            try await connect("ws://\(urlHost):\(port)/echo") { ws in
                for message in sent { try await ws.send(message) }
                var received: [WebSocketMessage] = []
                for await message in ws.messages {
                    received.append(message)
                    if received.count == sent.count { break }
                }
                return received
            }
        }
        #expect(received == sent)
    }

    @Test("the server sees an IPv6 peer on [::1] and the request as sent")
    func ipv6Peer() async throws {
        let (requests, sink) = AsyncStream.makeStream(of: (String, String?, Bool).self)
        try await withServer(host: "::1", handler: { ws in
            if case .v6? = ws.remoteAddress {
                sink.yield((ws.request.path, ws.request.headers.first(name: "host"), true))
            } else {
                sink.yield((ws.request.path, ws.request.headers.first(name: "host"), false))
            }
        }) { port in
            let outcome = try await connect("ws://[::1]:\(port)/six") { ws in
                await ws.closeOutcome
            }
            #expect(outcome.code == .normalClosure)
            let (path, hostHeader, peerIsIPv6) = try await first(of: requests, "the server's view of the request")
            #expect(path == "/six")
            #expect(hostHeader == "[::1]:\(port)")
            #expect(peerIsIPv6)
        }
    }

    @Test("a 3 MiB message passes both ways once both limits are raised")
    func largeMessage() async throws {
        let size = 3 << 20
        let limit = 4 << 20
        let message = WebSocketMessage.binary(pattern(size))
        let text = WebSocketMessage.text(String(repeating: "0123456789abcdef", count: size / 16))
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(maxMessageSize: limit))
        let received = try await withServer(configuration: configuration, handler: echo) { port in
            try await connect("ws://127.0.0.1:\(port)/large", maxMessageSize: limit) { ws in
                try await ws.send(message)
                try await ws.send(text)
                var received: [WebSocketMessage] = []
                for await message in ws.messages {
                    received.append(message)
                    if received.count == 2 { break }
                }
                return received
            }
        }
        try #require(received.count == 2)
        #expect(received[0].kind == .binary)
        #expect(received[0].data.readableBytes == size)
        #expect(received[0] == message)
        #expect(received[1].kind == .text)
        #expect(received[1] == text)
    }

    @Test("the server picks its most preferred subprotocol among those the client offers")
    func subprotocolNegotiation() async throws {
        let (serverSide, sink) = AsyncStream.makeStream(of: String?.self)
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(),
                                                         subprotocols: ["chat.v2", "chat.v1"])
        try await withServer(configuration: configuration, handler: { ws in sink.yield(ws.subprotocol) }) { port in
            let (subprotocol, header) = try await connect("ws://127.0.0.1:\(port)/",
                                                          subprotocols: ["chat.v1", "chat.v2", "other"]) { ws in
                (ws.subprotocol, ws.responseHeaders.first(name: "sec-websocket-protocol"))
            }
            #expect(subprotocol == "chat.v2")
            #expect(header == "chat.v2")
            #expect(try await first(of: serverSide, "the server's subprotocol") == "chat.v2")

            let none = try await connect("ws://127.0.0.1:\(port)/", subprotocols: ["mqtt"]) { ws in
                (ws.subprotocol, ws.responseHeaders.first(name: "sec-websocket-protocol"))
            }
            #expect(none.0 == nil)
            #expect(none.1 == nil)
            #expect(try await first(of: serverSide, "the server's subprotocol") == nil)
        }
    }
}
