import HoldfastCore
import HoldfastNIO
import NIOCore
import NIOEmbedded
import Testing

@Suite("HTTP CONNECT tunnel over EmbeddedChannel (RFC 9110 §9.3.6)")
struct HTTPConnectProxyHandlerTests {
    /// A channel with the handler and, after it, a collector of what passes the handler.
    struct Tunnel {
        let channel = EmbeddedChannel()
        let opened: EventLoopFuture<Void>

        init(proxy: HTTPProxy = HTTPProxy(host: "proxy.test", port: 3128), targetHost: String = "echo.test",
             targetPort: Int = 443) throws {
            let promise = channel.eventLoop.makePromise(of: Void.self)
            opened = promise.futureResult
            try channel.pipeline.syncOperations.addHandler(
                HTTPConnectProxyHandler(proxy: proxy, targetHost: targetHost, targetPort: targetPort,
                                        timeout: .seconds(5), tunnel: promise))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 3128)).wait()
        }

        func request() throws -> String {
            var written = ByteBuffer()
            while var part = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&part) }
            return String(buffer: written)
        }

        func receive(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }

        /// The error the tunnel failed with, or `nil` if it did not fail (yet).
        func failure() -> HTTPProxyError? {
            var failure: HTTPProxyError?
            opened.assumeIsolated().whenFailure { failure = $0 as? HTTPProxyError }
            return failure
        }
    }

    @Test func sendsConnectWithHostAndCredentials() throws {
        let proxy = HTTPProxy(host: "proxy.test", port: 3128, credentials: .init(username: "user", password: "p:w"))
        let tunnel = try Tunnel(proxy: proxy, targetHost: "::1", targetPort: 8443)
        #expect(try tunnel.request()
                == "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\nProxy-Authorization: Basic dXNlcjpwOnc=\r\n\r\n")
    }

    @Test func a2xxInPiecesOpensTheTunnelAndPassesOnWhatFollows() throws {
        let tunnel = try Tunnel()
        _ = try tunnel.request()
        try tunnel.receive("HTTP/1.1 200 Connection estab")
        var opened = false
        tunnel.opened.assumeIsolated().whenSuccess { opened = true }
        #expect(!opened)
        try tunnel.receive("lished\r\nVia: test\r\n\r\nserver bytes")
        #expect(opened)
        // The handler is gone, and the bytes after the head reached the next handler.
        #expect(throws: (any Error).self) {
            try tunnel.channel.pipeline.syncOperations.handler(type: HTTPConnectProxyHandler.self)
        }
        let passed = try tunnel.channel.readInbound(as: ByteBuffer.self)
        #expect(passed.map { String(buffer: $0) } == "server bytes")
    }

    @Test(arguments: [(407, "Proxy Authentication Required"), (403, "Forbidden"), (502, "Bad Gateway")])
    func aRefusalFailsWithTheStatusAndCloses(status: Int, phrase: String) throws {
        let tunnel = try Tunnel()
        _ = try tunnel.request()
        try tunnel.receive("HTTP/1.1 \(status) \(phrase)\r\nContent-Length: 0\r\n\r\n")
        let failure = try #require(tunnel.failure())
        #expect(failure.status == status)
        #expect(failure.description.hasPrefix("proxy proxy.test:3128 (CONNECT echo.test:443) refused with HTTP \(status) \(phrase)"))
        #expect(!tunnel.channel.isActive)
    }

    @Test func aHeadOverTheLimitFailsWithoutBufferingMore() throws {
        let tunnel = try Tunnel()
        _ = try tunnel.request()
        try tunnel.receive("HTTP/1.1 200 OK\r\n")
        let header = "X-Padding: " + String(repeating: "a", count: 1000) + "\r\n"
        for _ in 0..<(HTTPConnectProxyHandler.maxResponseHeadSize / header.utf8.count + 1) {
            guard tunnel.channel.isActive else { break }
            try tunnel.receive(header)
        }
        #expect(tunnel.failure()?.description.contains("response head over 16384 bytes") == true)
        #expect(!tunnel.channel.isActive)
    }

    @Test func somethingOtherThanHTTPIsAnInvalidResponse() throws {
        let tunnel = try Tunnel()
        _ = try tunnel.request()
        try tunnel.receive("SSH-2.0-OpenSSH_9.6\r\n\r\n")
        let failure = tunnel.failure()
        #expect(failure?.description.contains("not an HTTP response: 'SSH-2.0-OpenSSH_9.6'") == true, "\(String(describing: failure))")
    }

    @Test func aProxyThatClosesBeforeAnsweringFailsTheTunnel() throws {
        let tunnel = try Tunnel()
        _ = try tunnel.request()
        try tunnel.channel.close().wait()
        #expect(tunnel.failure()?.description.hasSuffix("closed the connection before answering") == true)
    }

    @Test func aProxyThatNeverAnswersTimesOut() throws {
        let tunnel = try Tunnel()
        _ = try tunnel.request()
        tunnel.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(tunnel.failure()?.description.hasSuffix("did not answer within 5000 ms") == true)
    }
}
