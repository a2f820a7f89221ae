import Holdfast
import HoldfastTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// The opening handshake between a Holdfast client and a Holdfast server over loopback.
@Suite(.timeLimit(.minutes(1)))
struct HandshakeTests {
    /// What `shouldUpgrade` saw of a request.
    struct Seen: Sendable, Equatable {
        var path: String
        var query: String?
        var token: String?
        var origin: String?
    }

    @Test("shouldUpgrade sees path, query and headers, and its 403 reaches the client as a HandshakeError")
    func rejectWithForbidden() async throws {
        let (seen, seenSink) = AsyncStream.makeStream(of: Seen.self)
        let (handled, handledSink) = AsyncStream.makeStream(of: String.self)
        let configuration = WebSocketServerConfiguration(
            webSocket: testWebSocketConfiguration(),
            shouldUpgrade: { request in
                let token = request.headers.first(name: "x-token")
                seenSink.yield(Seen(path: request.path, query: request.query, token: token, origin: request.origin))
                guard token == "let-me-in" else { return .reject(status: .forbidden, reason: "bad token") }
                return .accept(subprotocol: nil, headers: ["X-Welcome": "yes"])
            })
        try await withServer(configuration: configuration, handler: { ws in
            handledSink.yield(ws.request.query ?? "")
        }) { port in
            let url = "ws://127.0.0.1:\(port)/rooms/42?user=alice&mode=ro"
            let error = await #expect(throws: HandshakeError.self) {
                try await connect(url, headers: ["X-Token": "wrong", "Origin": "http://example.test"]) { _ in }
            }
            #expect(error?.status == .forbidden)
            #expect(try await first(of: seen, "the rejected request") ==
                Seen(path: "/rooms/42", query: "user=alice&mode=ro", token: "wrong", origin: "http://example.test"))

            let welcome = try await connect("ws://127.0.0.1:\(port)/rooms/7?user=bob",
                                            headers: ["X-Token": "let-me-in"]) { ws in
                ws.responseHeaders.first(name: "x-welcome")
            }
            #expect(welcome == "yes")
            #expect(try await first(of: seen, "the accepted request") ==
                Seen(path: "/rooms/7", query: "user=bob", token: "let-me-in", origin: nil))
            // The handler ran for the accepted connection only: the rejected one came first.
            #expect(try await first(of: handled, "the handler's connection") == "user=bob")
        }
    }

    @Test("a plain HTTP request to the server gets 426 Upgrade Required")
    func plainHTTPRequest() async throws {
        try await withServer(handler: echo) { port in
            let head = try await RawConnection.with(port: port) { connection in
                try await connection.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                return try await connection.readHTTPHead()
            }
            #expect(head.hasPrefix("HTTP/1.1 426 "))
            #expect(head.lowercased().contains("sec-websocket-version: 13"))
        }
    }

    @Test("a malformed request much larger than one read still gets its 400 before the server closes")
    func largeMalformedRequest() async throws {
        // Like a TLS ClientHello sent to a plain server, but 64 KiB: most of it is still unread
        // when the server answers. Closing then would reset the connection and could discard the
        // answer; the server closes its side first and drops the rest as it arrives.
        var garbage: [UInt8] = [0x16, 0x03, 0x01]
        garbage += (0..<(64 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try await withServer(handler: echo) { port in
            for _ in 0..<5 {
                let (head, body) = try await RawConnection.with(port: port) { connection in
                    try await connection.write(garbage)
                    let head = try await connection.readHTTPHead()
                    var rest = try await connection.readToEnd()
                    return (head, rest.readString(length: rest.readableBytes) ?? "")
                }
                #expect(head.hasPrefix("HTTP/1.1 400 "), "\(head)")
                #expect(body == "malformed HTTP request\n")
            }
        }
    }
}
