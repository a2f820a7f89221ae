import HoldfastCore
import HoldfastNIO
import HoldfastTestSupport
import NIOCore
import NIOHTTP1
import Testing

@Suite("Server handshake over EmbeddedChannel (RFC 6455 §4.2)")
struct ServerHandshakeHandlerTests {
    @Test func validRequestIsAnsweredWith101AndTheAcceptKey() throws {
        let server = try EmbeddedServer()
        try server.receive(upgradeRequest(path: "/chat?room=1"))
        let response = String(decoding: try server.written(), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
        #expect(response.lowercased().contains("upgrade: websocket\r\n"))
        guard case .upgraded(let upgraded) = try server.outcome.wait() else {
            Issue.record("not upgraded")
            return
        }
        #expect(upgraded.request.path == "/chat")
        #expect(upgraded.request.query == "room=1")
        // Only the WebSocket handler is left: the HTTP codec is gone.
        #expect(throws: (any Error).self) { try server.channel.pipeline.syncOperations.context(name: "holdfast.http-decoder") }
        _ = try server.channel.pipeline.syncOperations.context(name: "holdfast.websocket")
    }

    @Test func otherVersionGets426WithTheSupportedVersion() throws {
        let server = try EmbeddedServer()
        try server.receive(upgradeRequest(version: "8"))
        let response = String(decoding: try server.written(), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 426 Upgrade Required\r\n"))
        #expect(response.contains("Sec-WebSocket-Version: 13\r\n"))
        guard case .notUpgraded = try server.outcome.wait() else {
            Issue.record("upgraded a version-8 request")
            return
        }
        #expect(!server.channel.isActive)
    }

    @Test func plainHTTPRequestIsAnsweredAndClosed() throws {
        let server = try EmbeddedServer()
        try server.receive("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        let response = String(decoding: try server.written(), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 426 Upgrade Required\r\n"))
        #expect(!server.channel.isActive)
    }

    @Test func plainRequestsGoToThePlainHTTPResponder() throws {
        let server = try EmbeddedServer(plainHTTP: { request in
            request.path == "/health" ? PlainHTTPResponse(contentType: "text/plain", body: "ok") : nil
        })
        try server.receive("GET /health HTTP/1.1\r\nHost: example.com\r\n\r\n")
        let response = String(decoding: try server.written(), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(response.contains("Content-Length: 2\r\n"))
        #expect(response.hasSuffix("\r\n\r\nok"))
        #expect(!server.channel.isActive)
    }

    @Test func aRouteCanHaveItsOwnLimitsAndAnnouncesThem() throws {
        let server = try EmbeddedServer(shouldUpgrade: { request in
            request.path == "/uploads" ? .accept(configuration: WebSocketConfiguration(maxMessageSize: 64 << 20)) : .accept
        })
        try server.receive(upgradeRequest(path: "/uploads"))
        let response = String(decoding: try server.written(), as: UTF8.self)
        #expect(response.contains("Holdfast-Max-Message-Size: 67108864\r\n"))
        // 2 MiB is over the server's default 1 MiB but within this route's 64 MiB.
        try server.receive(maskedFrame(opcode: 0x2, payload: [], declaredLength: 2 << 20))
        #expect(try server.written() == [])
        #expect(server.channel.isActive)
    }

    @Test func rejectionHookAnswersWithItsStatus() throws {
        let server = try EmbeddedServer(shouldUpgrade: { request in
            request.path == "/allowed" ? .accept : .reject(status: .forbidden, reason: "no such room")
        })
        try server.receive(upgradeRequest(path: "/other"))
        let response = String(decoding: try server.written(), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        #expect(response.hasSuffix("no such room\n"))
    }

    @Test func acceptedSubprotocolMustBeOneTheClientOffered() throws {
        let server = try EmbeddedServer(shouldUpgrade: { _ in .accept(subprotocol: "chat.v2") })
        try server.receive(upgradeRequest(extraHeaders: "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n"))
        let response = String(decoding: try server.written(), as: UTF8.self)
        #expect(response.contains("Sec-WebSocket-Protocol: chat.v2\r\n"))
    }

    @Test func malformedHTTPGets400() throws {
        let server = try EmbeddedServer()
        try server.receive("NOT HTTP AT ALL\r\n\r\n")
        let response = String(decoding: try server.written(), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(!server.channel.isActive)
    }

    @Test func framesInTheSamePacketAsTheRequestAreProcessed() throws {
        let server = try EmbeddedServer()
        let request = Array(upgradeRequest().utf8)
        try server.receive(request + maskedFrame(opcode: 0x9, payload: Array("early".utf8)))
        let written = try server.written()
        let pong = serverFrame(opcode: 0xA, payload: Array("early".utf8))
        #expect(Array(written.suffix(pong.count)) == pong)
    }
}
