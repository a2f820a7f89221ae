import HoldfastCore
import HoldfastNIO
import HoldfastTestSupport
import NIOCore
import NIOEmbedded
import Testing

/// The server's protections (`ServerProtections`), each at the byte level on an `EmbeddedChannel`, with the
/// embedded event loop's clock standing in for time.
@Suite("Server protections: handshake timeout, header size, origins, connection limit, idle timeout")
struct ServerProtectionTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func aRequestStillIncompleteAtTheHandshakeTimeoutGets408AndIsClosed() throws {
        let server = try EmbeddedServer(adjust: { $0.protections.handshakeTimeout = .seconds(5) })
        try server.receive("GET / HTTP/1.1\r\nHost: exa")  // and then nothing more: slow-loris
        server.channel.embeddedEventLoop.advanceTime(by: .milliseconds(4999))
        #expect(try server.written() == [])
        #expect(server.channel.isActive)
        server.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let response = text(try server.written())
        #expect(response.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(response)")
        #expect(response.hasSuffix("\r\n\r\nno complete request within 5 s\n"), "\(response)")
        #expect(!server.channel.isActive)
    }

    @Test func anAnswerTheTransportHoldsBackStillEndsTheConnectionASecondAfterTheTimeout() throws {
        // As a TLS handler does while its handshake is incomplete: writes never complete. A
        // silent TLS client ends at the handshake timeout (and the 408's second), not twice it.
        let server = try EmbeddedServer(adjust: { $0.protections.handshakeTimeout = .seconds(5) })
        try server.channel.pipeline.syncOperations.addHandler(WriteHolder(), position: .first)
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(server.channel.isActive)
        server.channel.embeddedEventLoop.advanceTime(by: .milliseconds(999))
        #expect(server.channel.isActive)
        server.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!server.channel.isActive)
    }

    @Test func aHandshakeCompletedInTimeIsNotTouchedByTheTimeout() throws {
        let server = try EmbeddedServer(adjust: { $0.protections.handshakeTimeout = .seconds(5) })
        _ = try server.upgrade()
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(try server.written() == [])
        #expect(server.channel.isActive)
    }

    @Test func headersOverTheLimitGet431() throws {
        let server = try EmbeddedServer(adjust: { $0.protections.maxHeaderSize = 1024 })
        let cookie = String(repeating: "a", count: 2000)
        try server.receive(upgradeRequest(extraHeaders: "Cookie: \(cookie)\r\n"))
        let response = text(try server.written())
        #expect(response.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "\(response)")
        #expect(response.hasSuffix("request line and headers over the limit of 1024 bytes\n"))
        #expect(!server.channel.isActive)
    }

    @Test func headersWithinTheLimitUpgrade() throws {
        let server = try EmbeddedServer(adjust: { $0.protections.maxHeaderSize = 1024 })
        let cookie = String(repeating: "a", count: 700)
        try server.receive(upgradeRequest(extraHeaders: "Cookie: \(cookie)\r\n"))
        #expect(text(try server.written()).hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
    }

    @Test("an origin outside the allow-list gets 403; a listed one (any case) or none upgrades",
          arguments: [("Origin: https://evil.example\r\n", "HTTP/1.1 403 Forbidden\r\n"),
                      ("Origin: HTTPS://Good.Example\r\n", "HTTP/1.1 101 Switching Protocols\r\n"),
                      ("", "HTTP/1.1 101 Switching Protocols\r\n")])
    func origins(header: String, statusLine: String) throws {
        let server = try EmbeddedServer(adjust: { $0.protections.allowedOrigins = ["https://good.example"] })
        try server.receive(upgradeRequest(extraHeaders: header))
        let response = text(try server.written())
        #expect(response.hasPrefix(statusLine), "\(response)")
        if statusLine.contains("403") {
            #expect(response.hasSuffix("origin https://evil.example is not allowed\n"))
        }
    }

    @Test func aFullServerAnswers503WithRetryAfter() throws {
        let server = try EmbeddedServer(adjust: { $0.isFull = { true } })
        try server.receive(upgradeRequest())
        let response = text(try server.written())
        #expect(response.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(response)")
        #expect(response.contains("Retry-After: 1\r\n"))
        #expect(!server.channel.isActive)
    }

    @Test func aConnectionThatReceivesNothingForTheIdleTimeoutIsClosedWith1001() throws {
        let server = try EmbeddedServer(adjust: { $0.protections.idleTimeout = .seconds(30) })
        _ = try server.upgrade()
        let loop = server.channel.embeddedEventLoop
        loop.advanceTime(by: .seconds(20))
        // A ping 20 s in is traffic: the 30 s start again from it.
        try server.receive(maskedFrame(opcode: 0x9, payload: [1]))
        #expect(try server.written() == serverFrame(opcode: 0xA, payload: [1]))
        loop.advanceTime(by: .seconds(29))
        #expect(try server.written() == [])
        loop.advanceTime(by: .seconds(1))
        #expect(try server.written() == serverFrame(opcode: 0x8, payload: closePayload(1001, "nothing received for 30 s")))
    }

    @Test func withoutAnIdleTimeoutAQuietConnectionStaysOpen() throws {
        let server = try EmbeddedServer()
        _ = try server.upgrade()
        server.channel.embeddedEventLoop.advanceTime(by: .hours(1))
        #expect(try server.written() == [])
        #expect(server.channel.isActive)
    }
}

/// Holds every write without completing it, like a transport that cannot send yet.
private final class WriteHolder: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    private var held: [EventLoopPromise<Void>?] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        held.append(promise)
    }

    func flush(context: ChannelHandlerContext) {}

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        for promise in held { promise?.fail(ChannelError.ioOnClosedChannel) }
        held.removeAll()
        context.close(mode: mode, promise: promise)
    }
}

/// Keepalive pings (`WebSocketConfiguration.pingInterval`), on the embedded loop's clock.
@Suite("Keepalive pings")
struct KeepaliveTests {
    @Test func pingsEveryIntervalAfterTheLastPongAndClosesAConnectionThatStopsAnswering() throws {
        let server = try EmbeddedServer(configuration: .init(pingInterval: .seconds(20), pongTimeout: .seconds(5)))
        let upgraded = try server.upgrade()
        let loop = server.channel.embeddedEventLoop
        loop.advanceTime(by: .milliseconds(19_999))
        #expect(try server.written() == [])
        loop.advanceTime(by: .milliseconds(1))
        #expect(try server.written() == serverFrame(opcode: 0x9, payload: []))
        // Answered 3 s later: the next ping goes 20 s after the answer, not after the ping.
        loop.advanceTime(by: .seconds(3))
        try server.receive(maskedFrame(opcode: 0xA, payload: []))
        loop.advanceTime(by: .milliseconds(19_999))
        #expect(try server.written() == [])
        loop.advanceTime(by: .milliseconds(1))
        #expect(try server.written() == serverFrame(opcode: 0x9, payload: []))
        // Not answered: 5 s later the connection is taken for dead.
        loop.advanceTime(by: .milliseconds(4_999))
        #expect(server.channel.isActive)
        loop.advanceTime(by: .milliseconds(1))
        #expect(!server.channel.isActive)
        let outcome = try upgraded.handler.value.closeOutcome.wait()
        #expect(outcome.code == .abnormalClosure)
        #expect(outcome.received == nil)
    }

    @Test func withoutAPingIntervalNoPingIsSent() throws {
        let server = try EmbeddedServer()
        _ = try server.upgrade()
        server.channel.embeddedEventLoop.advanceTime(by: .hours(1))
        #expect(try server.written() == [])
    }
}
